package ai.companion.bench.impl;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * transformers.js (onnxruntime-node, CPU) as a real peer: runs {@code node js/tjs-generate.mjs} on a model folder
 * and reads the one JSON line it prints.
 */
public final class TjsPeer {
  public static final String SCRIPT = "tjs-generate.mjs";

  /** What one run of the script printed. */
  public record Result(List<Integer> tokens, String text, double ttftMs, double decodeTps) {}

  private final Path jsDir;

  public TjsPeer(Path jsDir) {
    this.jsDir = jsDir.toAbsolutePath().normalize();
  }

  public Path jsDir() { return jsDir; }

  /** Null when the peer can run here; otherwise why not (no node on the PATH, no node_modules). */
  public String unavailableReason() {
    if (!Files.isRegularFile(jsDir.resolve(SCRIPT))) return "no " + jsDir.resolve(SCRIPT);
    if (!Files.isDirectory(jsDir.resolve("node_modules/@huggingface/transformers"))) {
      return "no " + jsDir.resolve("node_modules") + " (run: cd " + jsDir + " && npm ci --ignore-scripts)";
    }
    try {
      Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) return "node --version failed";
    } catch (IOException e) {
      return "no node on the PATH (" + e.getMessage() + ")";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
    return null;
  }

  /**
   * Greedy generation of {@code tokens} tokens on {@code modelDir}.
   *
   * @param prompt "" starts from BOS alone
   * @param runs above 1: one warm-up, then the best of {@code runs} (by decode tokens/s)
   * @param min force exactly {@code tokens} tokens (EOS ignored), for throughput
   */
  public Result generate(Path modelDir, int tokens, String prompt, int runs, boolean min, long timeoutSec)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("node", jsDir.resolve(SCRIPT).toString(),
        modelDir.toAbsolutePath().toString(), "--tokens", String.valueOf(tokens)));
    if (prompt != null && !prompt.isEmpty()) cmd.addAll(List.of("--prompt", prompt));
    if (runs > 1) cmd.addAll(List.of("--runs", String.valueOf(runs)));
    if (min) cmd.add("--min");
    Process p = new ProcessBuilder(cmd).directory(jsDir.toFile()).start();
    CompletableFuture<String> err = drain(p.getErrorStream());
    CompletableFuture<String> out = drain(p.getInputStream());
    if (!p.waitFor(timeoutSec, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("transformers.js did not finish within " + timeoutSec + " s: " + String.join(" ", cmd));
    }
    String stdout = out.join();
    if (p.exitValue() != 0) {
      throw new IOException("transformers.js exited with " + p.exitValue() + ": " + err.join().strip());
    }
    String line = null;
    for (String l : stdout.split("\n")) if (l.startsWith("{")) line = l;
    if (line == null) throw new IOException("transformers.js printed no JSON line: " + stdout + err.join());
    JsonObject j = new JsonObject(line);
    JsonArray ids = j.getJsonArray("tokens");
    List<Integer> list = new ArrayList<>();
    for (Object o : ids) list.add(((Number) o).intValue());
    return new Result(list, j.getString("text"), number(j, "ttft_ms"), number(j, "decode_tps"));
  }

  private static double number(JsonObject j, String key) {
    Object v = j.getValue(key);
    return v instanceof Number n ? n.doubleValue() : Double.NaN;
  }

  private static CompletableFuture<String> drain(InputStream in) {
    CompletableFuture<String> f = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try (in) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        in.transferTo(buf);
        f.complete(buf.toString(StandardCharsets.UTF_8));
      } catch (IOException e) {
        f.complete("");
      }
    }, "tjs-drain");
    t.setDaemon(true);
    t.start();
    return f;
  }
}
