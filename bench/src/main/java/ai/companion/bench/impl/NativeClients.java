package ai.companion.bench.impl;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The lean load generator ({@code bench/native/sse-clients.c}): one wave of streaming requests, each on its own new
 * connection, from a single-threaded C process, built with the machine's C compiler the first time (and again when
 * the source is newer). On a 2-core machine the JVM client takes about 0.45 ms of CPU a stream on the cores the node
 * serves from; this one about 0.16 ms, most of it the kernel's TCP (docs/benchmarks.md, "A lean client").
 */
public final class NativeClients {
  /** The C source, under the bench module. */
  public static final String SOURCE = "native/sse-clients.c";

  private final Path binary;

  private NativeClients(Path binary) {
    this.binary = binary;
  }

  /** Builds the client into {@code outDir} unless a build newer than the source is there. */
  public static NativeClients build(Path benchDir, Path outDir) throws IOException, InterruptedException {
    Path source = benchDir.resolve(SOURCE);
    if (!Files.isRegularFile(source)) throw new IOException("no " + source);
    Path binary = outDir.resolve("sse-clients");
    if (!Files.isExecutable(binary)
        || Files.getLastModifiedTime(binary).compareTo(Files.getLastModifiedTime(source)) < 0) {
      Files.createDirectories(outDir);
      Process cc;
      try {
        cc = new ProcessBuilder("cc", "-O2", "-o", binary.toString(), source.toString()).redirectErrorStream(true)
            .start();
      } catch (IOException e) {
        throw new IOException("no C compiler (cc) to build " + source + "; --client vertx sends the waves from the "
            + "JVM instead", e);
      }
      String out = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!cc.waitFor(120, TimeUnit.SECONDS) || cc.exitValue() != 0) {
        throw new IOException("cc could not build " + source + " (--client vertx sends the waves from the JVM "
            + "instead): " + out);
      }
    }
    return new NativeClients(binary);
  }

  /** A wave's streams, and the client process's CPU (user + system) in milliseconds. */
  public record Wave(List<Timeline> streams, long cpuMillis) {}

  /**
   * {@code clients} requests at once to {@code host:port}{@code path}, client {@code i} sending {@code bodyTemplate}
   * with {@code %1$d} replaced by {@code firstSeed + i} (a printf format: {@code %%} for a percent sign); waits for
   * all (at most {@code timeoutSec}). One timeline per client, in order, its times on this JVM's clock from when the
   * process was started.
   */
  public Wave wave(String host, int port, String path, int clients, long firstSeed, int timeoutSec,
                   String bodyTemplate) throws IOException, InterruptedException {
    long start = System.nanoTime();
    Process p = new ProcessBuilder(binary.toString(), host, String.valueOf(port), path, String.valueOf(clients),
        String.valueOf(firstSeed), String.valueOf(timeoutSec), bodyTemplate)
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    List<Timeline> out = new ArrayList<>(clients);
    long cpu = -1;
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        if (line.startsWith("# cpu_ms ")) cpu = Long.parseLong(line.substring(9).trim());
        else out.add(timeline(start, line));
      }
    }
    if (!p.waitFor(timeoutSec + 30L, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("the native client did not end");
    }
    if (p.exitValue() != 0 || out.size() != clients) {
      throw new IOException("the native client exited with " + p.exitValue() + " after " + out.size() + " of "
          + clients + " streams");
    }
    return new Wave(out, cpu);
  }

  /** One output line: {@code i connected headers first end tokens finish|- error|-}, ns after {@code start}. */
  static Timeline timeline(long start, String line) {
    String[] f = line.split(" ");
    if (f.length != 8) throw new IllegalArgumentException("not a native client line: " + line);
    Timeline t = new Timeline(start);
    long connected = Long.parseLong(f[1]);
    long headers = Long.parseLong(f[2]);
    long first = Long.parseLong(f[3]);
    long end = Long.parseLong(f[4]);
    int tokens = Integer.parseInt(f[5]);
    if (connected > 0) t.connected(start + connected);
    if (headers > 0) t.headers(start + headers);
    if (first > 0) t.tokens(start + first, 1);
    t.totalTokens(tokens);
    if (!f[7].equals("-")) t.fail(start + end, f[7].replace('_', ' '));
    else if (!f[6].equals("-")) t.finish(start + end, f[6]);
    return t;
  }
}
