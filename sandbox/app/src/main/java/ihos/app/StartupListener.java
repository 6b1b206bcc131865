package ihos.app;

import jakarta.servlet.ServletContextEvent;
import jakarta.servlet.ServletContextListener;

/**
 * Writes "... ihos app VERSION started" to logs/logFile.YYYY-MM-DD.log when the app is deployed.
 * Variant fail-start throws here, so Tomcat fails to deploy the app; variant log-exception starts
 * and then logs a java.lang.IllegalStateException.
 */
public class StartupListener implements ServletContextListener {
    @Override
    public void contextInitialized(ServletContextEvent sce) {
        String v = AppInfo.VERSION;
        if ("fail-start".equals(AppInfo.VARIANT)) {
            RuntimeException e = new RuntimeException("ihos app " + v + " refuses to start (variant fail-start)");
            AppInfo.log("ERROR", "ihos app " + v + " failed to start", e);
            throw e;
        }
        AppInfo.log("INFO", "ihos app " + v + " started", null);
        if ("log-exception".equals(AppInfo.VARIANT)) {
            AppInfo.log("ERROR", "ihos app " + v + " background job failed",
                    new IllegalStateException("ihos test exception (variant log-exception)"));
        }
    }

    @Override
    public void contextDestroyed(ServletContextEvent sce) {
        AppInfo.log("INFO", "ihos app " + AppInfo.VERSION + " stopped", null);
    }
}
