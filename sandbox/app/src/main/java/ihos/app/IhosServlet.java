package ihos.app;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;

/**
 * /version -> the version string baked in at build time
 * /health  -> 200 "ok"
 * /work?ms=N (GET or POST) -> sleeps N ms (0..600000), then "ok VERSION N"
 * /whoami  -> "version=VERSION instance=INSTANCE"
 * Every answer carries the headers X-Ihos-Version and X-Ihos-Instance ($IHOS_INSTANCE, else
 * $HOSTNAME, else "unknown").
 * Variants for the canary analysis (never on /health, so that they deploy and pass their
 * health check like a real bad release): errors-5pct answers 500 to every 20th other request;
 * slow-300ms answers every other request 300 ms later.
 */
public class IhosServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final long MAX_MS = 600_000L;
    private static final java.util.concurrent.atomic.AtomicLong REQUESTS =
            new java.util.concurrent.atomic.AtomicLong();

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        handle(req, resp);
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        try (InputStream in = req.getInputStream()) {
            byte[] buf = new byte[8192];
            while (in.read(buf) >= 0) {
                // drain the request body
            }
        }
        handle(req, resp);
    }

    private void handle(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setHeader("X-Ihos-Version", AppInfo.VERSION);
        resp.setHeader("X-Ihos-Instance", AppInfo.INSTANCE);
        resp.setHeader("Cache-Control", "no-store");
        resp.setContentType("text/plain;charset=UTF-8");
        String path = req.getServletPath();
        if (!"/health".equals(path)) {
            if ("errors-5pct".equals(AppInfo.VARIANT) && REQUESTS.incrementAndGet() % 20 == 0) {
                resp.sendError(HttpServletResponse.SC_INTERNAL_SERVER_ERROR, "injected error (variant errors-5pct)");
                return;
            }
            if ("slow-300ms".equals(AppInfo.VARIANT)) {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        switch (path) {
            case "/version":
                resp.getWriter().write(AppInfo.VERSION);
                break;
            case "/health":
                resp.getWriter().write("ok");
                break;
            case "/whoami":
                resp.getWriter().write("version=" + AppInfo.VERSION + " instance=" + AppInfo.INSTANCE + "\n");
                break;
            case "/work": {
                long ms = 0;
                String s = req.getParameter("ms");
                if (s != null && !s.isEmpty()) {
                    try {
                        ms = Long.parseLong(s.trim());
                    } catch (NumberFormatException e) {
                        resp.sendError(HttpServletResponse.SC_BAD_REQUEST, "ms must be an integer");
                        return;
                    }
                }
                if (ms < 0 || ms > MAX_MS) {
                    resp.sendError(HttpServletResponse.SC_BAD_REQUEST, "ms must be in 0.." + MAX_MS);
                    return;
                }
                if (ms > 0) {
                    try {
                        Thread.sleep(ms);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        resp.sendError(HttpServletResponse.SC_SERVICE_UNAVAILABLE, "interrupted");
                        return;
                    }
                }
                resp.getWriter().write("ok " + AppInfo.VERSION + " " + ms);
                break;
            }
            default:
                resp.sendError(HttpServletResponse.SC_NOT_FOUND);
        }
    }
}
