package ai.companion.bench.impl;

import ai.companion.node.NodeJvmOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A node in a child JVM, started as {@code ./companion start ARGS} starts one (same main class, same JVM flags),
 * on this JVM's class path. Its output goes to a log file; the READY line gives its HTTP port.
 */
public final class ChildNode implements AutoCloseable {
  private static final Pattern READY = Pattern.compile("READY http=(\\S+)");
  /**
   * The launcher script's JVM flags ({@link NodeJvmOptions#launcherFlags}: the project's tuning and Hazelcast's
   * flags, found beside the bench module).
   */
  public static List<String> jvmFlags(Path projectRoot) {
    try {
      return NodeJvmOptions.launcherFlags(projectRoot);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("bench: the launcher's JVM flags", e);
    }
  }

  private final String name;
  private final Process process;
  private final long startNs;
  private final CompletableFuture<Integer> ready = new CompletableFuture<>();
  private volatile long readyNs;

  private ChildNode(String name, Process process, long startNs, Path log) {
    this.name = name;
    this.process = process;
    this.startNs = startNs;
    Thread reader = new Thread(() -> pump(log), "child-" + name);
    reader.setDaemon(true);
    reader.start();
    // a benchmark stopped with Ctrl-C leaves no node behind
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (process.isAlive()) process.destroyForcibly();
    }, "stop-" + name));
  }

  /**
   * Starts {@code java FLAGS ai.companion.node.CompanionCli start ARGS} with the launcher's flags ({@link #jvmFlags})
   * and then {@code extraJvmFlags} (later flags win); does not wait for READY.
   */
  public static ChildNode start(String name, List<String> startArgs, Path log, List<String> jvmFlags,
                                List<String> extraJvmFlags) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(jvmFlags);
    cmd.addAll(extraJvmFlags);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "ai.companion.node.CompanionCli", "start"));
    cmd.addAll(startArgs);
    Files.createDirectories(log.toAbsolutePath().getParent());
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().remove("COMPANION_API_KEYS");
    pb.environment().put("COMPANION_LOG_LEVEL", "INFO");
    long t0 = System.nanoTime();
    Process p = pb.start();
    return new ChildNode(name, p, t0, log);
  }

  private void pump(Path log) {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
         PrintWriter w = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        w.println(line);
        w.flush();
        Matcher m = READY.matcher(line);
        if (m.find() && !ready.isDone()) {
          readyNs = System.nanoTime();
          String http = m.group(1);
          ready.complete(http.equals("-") ? -1 : Integer.parseInt(http));
        }
      }
    } catch (IOException e) {
      // the process went away
    }
    ready.completeExceptionally(new IllegalStateException("node " + name + " exited before READY (exit "
        + (process.isAlive() ? "?" : process.exitValue()) + "), see " + log));
  }

  /** Waits for READY; returns the HTTP port (-1 for a node without the gateway role). */
  public int awaitReady(long timeoutSec) throws Exception {
    try {
      return ready.get(timeoutSec, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new IllegalStateException("node " + name + " not READY within " + timeoutSec + " s");
    }
  }

  /** Milliseconds from the process start to its READY line. */
  public double readyMs() {
    return (readyNs - startNs) / 1e6;
  }

  public long startNs() { return startNs; }

  public long pid() { return process.pid(); }

  /** Stops the node as Ctrl-C would (its shutdown hook leaves the cluster), forcibly after 30 s. */
  @Override public void close() throws InterruptedException {
    if (!process.isAlive()) return;
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
