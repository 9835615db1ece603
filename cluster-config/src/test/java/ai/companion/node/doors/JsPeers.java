package ai.companion.node.doors;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.companion.testing.ExternalTools;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the JavaScript peers in {@code bench/js} (the official openai client, @grpc/grpc-js, a headless browser)
 * as child processes and reads the one JSON line each prints. Without node, its packages or chromium the test
 * is skipped, except where {@code CI=true}: there a missing peer fails it.
 */
final class JsPeers {
  private JsPeers() {}

  static Path repoRoot() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isRegularFile(dir.resolve("bench/js/package.json"))) dir = dir.getParent();
    if (dir == null) throw new IllegalStateException("no bench/js/package.json above " + Path.of("").toAbsolutePath());
    return dir;
  }

  static Path benchJs() {
    return repoRoot().resolve("bench/js");
  }

  /** Skips (or, in CI, fails) unless node and the named packages are installed. */
  static void require(String... packages) {
    String missing = null;
    if (!commandWorks("node", "--version")) missing = "node (Node.js 20+)";
    for (String p : packages) {
      if (missing == null && !Files.isDirectory(benchJs().resolve("node_modules").resolve(p))) {
        missing = "npm package " + p + " (run npm ci in bench/js)";
      }
    }
    ExternalTools.require(missing);
  }

  static void requireChromium() {
    String path = System.getenv().getOrDefault("CHROMIUM_PATH", "/usr/bin/chromium");
    ExternalTools.require(Files.isExecutable(Path.of(path)) ? null : "chromium at " + path + " (apt-get install chromium)");
  }

  /** Runs {@code node bench/js/<script> args...}; asserts exit 0 and returns the last stdout line as JSON. */
  static JsonObject run(String script, long timeoutSeconds, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("node", benchJs().resolve(script).toString()));
    cmd.addAll(List.of(args));
    Path log = Files.createTempFile("js-peer-", ".log");
    Process p = new ProcessBuilder(cmd).directory(benchJs().toFile()).redirectError(log.toFile()).start();
    try {
      return finish(p, script, timeoutSeconds, log);
    } finally {
      // a timeout, an interrupt (JUnit's timeout) or a failed assertion leaves no node or browser behind
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
  }

  private static JsonObject finish(Process p, String script, long timeoutSeconds, Path log) throws Exception {
    p.getOutputStream().close();
    // stdout is small (one JSON line): read it while the process runs so that it can never block on a pipe
    var stdout = new java.util.concurrent.CompletableFuture<String>();
    Thread reader = new Thread(() -> {
      try {
        stdout.complete(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        stdout.completeExceptionally(e);
      }
    }, "js-peer-stdout");
    reader.setDaemon(true);
    reader.start();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(script + " did not finish in " + timeoutSeconds + " s; stderr: " + Files.readString(log));
    }
    String out = stdout.get(10, TimeUnit.SECONDS).strip();
    String err = Files.readString(log);
    Files.deleteIfExists(log);
    assertEquals(0, p.exitValue(), () -> script + " failed; stdout: " + out + "\nstderr: " + err);
    String last = out.substring(out.lastIndexOf('\n') + 1);
    return new JsonObject(last);
  }

  private static boolean commandWorks(String... cmd) {
    try {
      // output discarded rather than read: a command that hangs with its stdout open cannot block us
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
          .start();
      try {
        return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0;
      } finally {
        p.destroyForcibly();
      }
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
