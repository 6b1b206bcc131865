package ihos.app;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Properties;

/** Build facts baked into the WAR (WEB-INF/classes/ihos-build.properties) and the app log. */
final class AppInfo {
    static final String VERSION;
    static final String VARIANT;
    /** Which instance this is: $IHOS_INSTANCE (the sandbox passes it with docker run -e), else $HOSTNAME. */
    static final String INSTANCE;

    static {
        Properties p = new Properties();
        try (InputStream in = AppInfo.class.getClassLoader().getResourceAsStream("ihos-build.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // keep defaults
        }
        VERSION = p.getProperty("version", "unknown");
        VARIANT = p.getProperty("variant", "ok");
        INSTANCE = instanceName();
    }

    private static String instanceName() {
        for (String k : new String[] {"IHOS_INSTANCE", "HOSTNAME"}) {
            String v = System.getenv(k);
            if (v != null && !v.isEmpty() && v.chars().allMatch(c -> c > 32 && c < 127)) {
                return v;
            }
        }
        return "unknown";
    }

    private static final DateTimeFormatter TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");

    private AppInfo() {}

    /** Log directory: -Dihos.log.dir, else $IHOS_LOG_DIR, else ${catalina.base}/logs, else ./logs. */
    static Path logDir() {
        String d = System.getProperty("ihos.log.dir");
        if (d == null || d.isEmpty()) {
            d = System.getenv("IHOS_LOG_DIR");
        }
        if (d == null || d.isEmpty()) {
            String base = System.getProperty("catalina.base");
            d = (base == null || base.isEmpty()) ? "logs" : base + "/logs";
        }
        return Paths.get(d);
    }

    /** Today's log file: logFile.YYYY-MM-DD.log (local date of the JVM). */
    static Path logFile() {
        return logDir().resolve("logFile." + LocalDate.now() + ".log");
    }

    static synchronized void log(String level, String message, Throwable t) {
        StringBuilder sb = new StringBuilder();
        sb.append(LocalDateTime.now().format(TS)).append(' ')
          .append(String.format("%-5s", level)).append(" [")
          .append(Thread.currentThread().getName()).append("] ")
          .append(message).append('\n');
        if (t != null) {
            StringWriter sw = new StringWriter();
            t.printStackTrace(new PrintWriter(sw));
            sb.append(sw);
        }
        try {
            Path f = logFile();
            Files.createDirectories(f.getParent());
            Files.write(f, sb.toString().getBytes(StandardCharsets.UTF_8),
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            System.err.println("ihos: cannot write app log: " + e);
            System.err.print(sb);
        }
    }
}
