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
 */
public class IhosServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final long MAX_MS = 600_000L;

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
