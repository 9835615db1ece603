package ai.companion.bench;

import ai.companion.api.SamplingParams;
import ai.companion.bench.impl.BenchModels;
import ai.companion.bench.impl.Report;
import ai.companion.bench.impl.Stats;
import ai.companion.worker.impl.ModelConfig;
import ai.companion.worker.impl.Sampler;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.sun.management.OperatingSystemMXBean;
import io.vertx.core.json.JsonObject;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * One decode step of the in-place cache graph through ONNX Runtime alone (no scheduler, sampling or streaming):
 * rows of a batch at a given context, the step's time, its time per row, and the cores the process kept busy
 * meanwhile. It separates what batching can gain inside ONNX Runtime from what the Java around it costs: the
 * ratio of 16 rows to one here bounds the engine's 16-stream ratio.
 */
@Command(name = "step", mixinStandardHelpOptions = true,
    description = "One decode step through ONNX Runtime alone: time per step and per row at 1..64 rows, 1 and 2 threads.")
final class StepBench implements BenchMain.BenchCommand {

  @ParentCommand BenchMain main;

  @Option(names = "--rows", split = ",", description = "Batch sizes (default: 1,4,16,64).")
  List<Integer> rows = List.of(1, 4, 16, 64);

  @Option(names = "--threads", split = ",", description = "Intra-op thread counts (default: 1,2).")
  List<Integer> threads = List.of(1, 2);

  @Option(names = "--lanes", split = ",", description = "Concurrent batches on one session, the rows split among "
      + "them, each stepped by its own thread (default: 1).")
  List<Integer> lanes = List.of(1);

  @Option(names = "--context", description = "Tokens in each row's cache (default: ${DEFAULT-VALUE}).")
  int context = 64;

  @Option(names = "--models", split = ",", description = "Which models: stories260K, smollm2-135m-random (default: stories260K).")
  List<String> which = List.of(BenchModels.STORIES);

  @Option(names = "--steps", description = "Steps per timing; the best of 5 timings counts (default: ${DEFAULT-VALUE}).")
  int steps = 2000;

  @Option(names = "--sample", description = "After each step, draw every row's next token from its logits as the "
      + "worker does (temperature 0.8, top-p 1, one seeded sampler per row), so that 'us / row' includes sampling.")
  boolean sample;

  @Option(names = "--op-profile", description = "Also profile each step with ONNX Runtime's profiler and note the "
      + "operators' shares of kernel time (slower; the timings in the table are taken without it).")
  boolean opProfile;

  @Override public void setMain(BenchMain main) { this.main = main; }

  @Override public Integer call() throws Exception {
    if (main.standardCache) {
      // the step binds the in-place decoder's buffers (past = present); the standard graph has no such file to time
      System.err.println("bench step times the in-place cache decoder (model_inplace_kv.onnx) only; "
          + "--standard-cache does not apply to it");
      return 2;
    }
    Report r = new Report("One decode step through ONNX Runtime alone", main.commandLine())
        .columns("model", "context", "threads", "lanes", "rows", "us / step", "us / row", "rows x one-row step / step",
            "cores busy");
    for (String name : which) {
      Path folder = main.modelFolder(name);
      Path graph = folder.resolve(ModelConfig.IN_PLACE_MODEL);
      if (!Files.isRegularFile(graph)) throw new IllegalStateException("no " + graph);
      JsonObject config = new JsonObject(Files.readString(folder.resolve("config.json")));
      int n = name.equals(BenchModels.STORIES) ? steps : Math.max(20, steps / 100);
      double oneRow = Double.NaN;   // one row, one thread, one lane: what every ratio is against
      for (int t : threads) {
        for (int lane : lanes) {
          for (int b : rows) {
            if (b < lane) continue;
            System.err.println("step: " + name + ", " + t + " thread(s), " + lane + " lane(s), " + b + " row(s)");
            Timing m = time(graph, config, b, t, lane, n, null);
            if (b == 1 && Double.isNaN(oneRow)) oneRow = m.micros();
            if (opProfile) {
              Path dir = Files.createTempDirectory("ort-profile");
              time(graph, config, b, t, lane, Math.min(n, 300), dir);
              r.note(name + ", " + t + " thread(s), " + lane + " lane(s), " + b + " row(s), share of kernel time: "
                  + opShares(dir));
            }
            r.row(name, String.valueOf(context), String.valueOf(t), String.valueOf(lane), String.valueOf(b),
                Stats.f1(m.micros()), Stats.f1(m.micros() / b),
                Double.isNaN(oneRow) ? "" : Stats.ratio(b * oneRow, m.micros()), String.format("%.2f", m.cores()));
          }
        }
      }
    }
    r.note("The in-place cache graph (model_inplace_kv.onnx), all optimizations, spinning threads (ONNX Runtime's "
        + "default); every row's cache holds 'context' random tokens and the step writes one more. 'rows x "
        + "one-row step / step': how many times the batch's tokens/s is one row's on one thread and one lane (on one "
        + "lane and one thread the engine's and node's 16-stream ratio cannot pass it; 'lanes': batches stepped side "
        + "by side on the same session, one thread each, as the worker's decode lanes). 'cores busy': process CPU time / wall time while stepping."
        + (sample ? " Each step is followed by a draw of every row's next token (--sample: temperature 0.8)." : ""));
    main.emit(r);
    return 0;
  }

  private record Timing(double micros, double cores) {}

  /** Kernel time per operator type from ONNX Runtime's profile (a Chrome trace), largest first. */
  private static String opShares(Path dir) throws java.io.IOException {
    Path trace;
    try (var files = Files.list(dir)) {
      trace = files.filter(f -> f.toString().endsWith(".json")).findFirst().orElseThrow();
    }
    Map<String, Double> byOp = new HashMap<>();
    double total = 0;
    for (Object o : new io.vertx.core.json.JsonArray(Files.readString(trace))) {
      JsonObject e = (JsonObject) o;
      if (!"Node".equals(e.getString("cat")) || !e.getString("name", "").endsWith("_kernel_time")) continue;
      double dur = e.getDouble("dur", 0.0);
      byOp.merge(e.getJsonObject("args").getString("op_name"), dur, Double::sum);
      total += dur;
    }
    double all = total;
    StringBuilder sb = new StringBuilder();
    byOp.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).limit(5)
        .forEach(en -> sb.append(sb.length() == 0 ? "" : ", ").append(en.getKey()).append(' ')
            .append(Math.round(100 * en.getValue() / all)).append('%'));
    try (var files = Files.list(dir)) {
      for (Path f : files.toList()) Files.deleteIfExists(f);
    }
    Files.deleteIfExists(dir);
    return sb.toString();
  }

  /**
   * Times {@code n} steps (best of 5); with {@code profileDir}, ONNX Runtime profiles them into it instead. With
   * {@code lanes} above 1 the {@code b} rows are split into that many batches, each stepped by its own thread on the
   * same session at the same time (ONNX Runtime allows concurrent runs of one session): a step is then one step of
   * every lane.
   */
  private Timing time(Path graph, JsonObject c, int b, int threads, int lanes, int n, Path profileDir)
      throws Exception {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    List<AutoCloseable> open = new ArrayList<>();
    try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
      so.setIntraOpNumThreads(threads);
      so.setInterOpNumThreads(1);
      so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      if (profileDir != null) so.enableProfiling(profileDir.resolve("step").toString());
      try (OrtSession session = env.createSession(graph.toString(), so)) {
        List<Callable<Long>> runs = new ArrayList<>();
        for (int lane = 0; lane < lanes; lane++) {
          int rows = b / lanes + (lane < b % lanes ? 1 : 0);
          Map<String, OnnxTensor> in = new HashMap<>();
          Map<String, OnnxTensor> out = new HashMap<>();
          bind(env, c, rows, lane, open, in, out);
          Runnable draw = sample ? sampler(c, rows, lane, out.get("logits")) : () -> { };
          runs.add(() -> {
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
              session.run(in, Set.of(), out);
              draw.run();
            }
            return System.nanoTime() - t0;
          });
        }
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(lanes);
        try {
          pool.invokeAll(runs);   // warm-up
          if (profileDir != null) {
            session.endProfiling();
            return null;
          }
          OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
          long best = Long.MAX_VALUE;
          long cpu0 = os.getProcessCpuTime();
          long wall0 = System.nanoTime();
          for (int rep = 0; rep < 5; rep++) {
            long t0 = System.nanoTime();
            for (java.util.concurrent.Future<Long> f : pool.invokeAll(runs)) f.get();
            best = Math.min(best, System.nanoTime() - t0);
          }
          double cores = (os.getProcessCpuTime() - cpu0) / (double) (System.nanoTime() - wall0);
          return new Timing(best / 1e3 / n, cores);
        } finally {
          pool.shutdownNow();
        }
      }
    } finally {
      for (AutoCloseable a : open) {
        try {
          a.close();
        } catch (Exception ignored) {
          // a tensor that will not close is garbage anyway
        }
      }
    }
  }

  /**
   * Draws each of the {@code b} rows' next token from the step's logits as the worker's decode loop does: the row
   * copied out of ONNX Runtime's buffer, then {@link Sampler#sample} at temperature 0.8 with its own seeded sampler.
   */
  private static Runnable sampler(JsonObject c, int b, int lane, OnnxTensor logits) {
    int vocab = c.getInteger("vocab_size");
    float[] rowsOut = new float[b * vocab];
    Sampler.Scratch scratch = new Sampler.Scratch(vocab);
    Sampler[] samplers = new Sampler[b];
    for (int r = 0; r < b; r++) {
      long seed = 1000L * lane + r;
      samplers[r] = new Sampler(new SamplingParams(0.8, 1.0, 0, seed, null, List.of(), 1.0), seed);
    }
    FloatBuffer buf = logits.getFloatBuffer();
    return () -> {
      buf.get(0, rowsOut, 0, rowsOut.length);
      for (int r = 0; r < b; r++) samplers[r].sample(rowsOut, r * vocab, vocab, null, scratch);
    };
  }

  /** One batch of {@code b} rows: cache buffers bound as both input and output, and the step's other inputs. */
  private void bind(OrtEnvironment env, JsonObject c, int b, int seed, List<AutoCloseable> open,
      Map<String, OnnxTensor> in, Map<String, OnnxTensor> out) throws OrtException {
    int layers = c.getInteger("num_hidden_layers");
    int heads = c.getInteger("num_attention_heads");
    int kv = c.getInteger("num_key_value_heads", heads);
    int d = c.getInteger("head_dim", c.getInteger("hidden_size") / heads);
    int vocab = c.getInteger("vocab_size");
    int m = (context + 64) / 64 * 64;   // the buffer a little longer than the context, as the worker grows it
    Random random = new Random(1 + seed);
    for (int l = 0; l < layers; l++) {
      for (String part : new String[] {"key", "value"}) {
        FloatBuffer f = floats(b * kv * m * d);
        for (int i = 0; i < f.capacity(); i++) f.put(i, (float) random.nextGaussian());
        OnnxTensor t = track(open, OnnxTensor.createTensor(env, f, new long[] {b, kv, m, d}));
        in.put("past_key_values." + l + "." + part, t);
        out.put("present." + l + "." + part, t);   // the same buffer: the step writes into the cache
      }
    }
    out.put("logits", track(open, OnnxTensor.createTensor(env, floats(b * vocab), new long[] {b, 1, vocab})));
    long[] ids = new long[b];
    long[] pos = new long[b];
    int[] seqlens = new int[b];
    for (int i = 0; i < b; i++) {
      ids[i] = 5 + i % (vocab - 5);
      pos[i] = context;
      seqlens[i] = context;          // the new token's length - 1: context tokens already in the cache
    }
    in.put("input_ids", track(open, OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {b, 1})));
    in.put("position_ids", track(open, OnnxTensor.createTensor(env, LongBuffer.wrap(pos), new long[] {b, 1})));
    in.put("seqlens_k", track(open, OnnxTensor.createTensor(env, IntBuffer.wrap(seqlens), new long[] {b})));
    in.put("total_sequence_length", track(open, OnnxTensor.createTensor(env,
        IntBuffer.wrap(new int[] {context + 1}), new long[] {1})));
  }

  private static OnnxTensor track(List<AutoCloseable> open, OnnxTensor t) {
    open.add(t);
    return t;
  }

  private static FloatBuffer floats(int n) {
    return ByteBuffer.allocateDirect(n * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }
}
