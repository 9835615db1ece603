package ai.companion.worker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.testing.ModelFixtures;
import ai.companion.worker.impl.ExecutionProviders;
import ai.companion.worker.impl.ModelConfig;
import ai.companion.worker.impl.OnnxDecoder;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkerOptionsTest {

  @Test void defaultsAndJsonRoundTrip() {
    WorkerOptions o = new WorkerOptions(new JsonObject().put("nodeName", "n1").put("statusIntervalMs", 500));
    assertTrue(o.getWorkerId().matches("n1-[0-9a-f]{8}"), o.getWorkerId());
    assertEquals(o.getWorkerId(), o.getWorkerId());
    assertEquals(WorkerOptions.DEFAULT_PROVIDER, o.getProvider());
    assertEquals(WorkerOptions.DEFAULT_MAX_CONCURRENT_SEQUENCES, o.getMaxConcurrentSequences());
    WorkerOptions copy = new WorkerOptions(o);
    assertEquals(o.toJson(), copy.toJson());
    assertEquals(500, copy.getStatusIntervalMs());
    assertEquals(WorkerOptions.DEFAULT_PROMPT_CACHE_MB, o.getPromptCacheMb());
    assertEquals(0, new WorkerOptions(new JsonObject().put("promptCacheMb", 0)).getPromptCacheMb());
    assertEquals(64, new WorkerOptions(new WorkerOptions().setPromptCacheMb(64).toJson()).getPromptCacheMb());
    assertEquals(WorkerOptions.DEFAULT_PREFILL_SLICE_MS, o.getPrefillSliceMs());
    assertEquals(0, new WorkerOptions(new WorkerOptions().setPrefillSliceMs(0).toJson()).getPrefillSliceMs());
  }

  /** The prompt caches of all models keep to a quarter of the heap, whatever was asked. */
  @Test void promptCachesKeepToAQuarterOfTheHeap() {
    assertEquals(128L << 20, WorkerVerticle.promptCacheBytes(128, 4L << 30, 2));
    assertEquals(64L << 20, WorkerVerticle.promptCacheBytes(128, 512L << 20, 2));
    assertEquals(128L << 20, WorkerVerticle.promptCacheBytes(128, 512L << 20, 0));
    assertEquals(0, WorkerVerticle.promptCacheBytes(0, 4L << 30, 1));
  }

  @Test void badValuesFailAtConfigTime() {
    assertThrows(IllegalArgumentException.class, () -> new WorkerOptions(new JsonObject().put("provider", "tpu")));
    assertThrows(IllegalArgumentException.class,
        () -> new WorkerOptions(new JsonObject().put("maxConcurrentSequences", 0)));
    assertThrows(IllegalArgumentException.class,
        () -> new WorkerOptions(new JsonObject().put("optimizationLevel", "max")));
    assertThrows(IllegalArgumentException.class, () -> new WorkerOptions(new JsonObject().put("modelVariant", "fp8")));
    assertThrows(IllegalArgumentException.class, () -> new WorkerOptions(new JsonObject().put("nodeName", "")));
    assertThrows(IllegalArgumentException.class, () -> new WorkerOptions(new JsonObject().put("decodeLanes", -1)));
    assertThrows(IllegalArgumentException.class, () -> new WorkerOptions(new JsonObject().put("laneCores", -2)));
    assertThrows(IllegalArgumentException.class, () -> new WorkerOptions(new JsonObject().put("promptCacheMb", -1)));
    assertThrows(IllegalArgumentException.class, () -> new WorkerOptions(new JsonObject().put("prefillSliceMs", -1)));
  }

  @Test void optimizationLevelsMapToOrtSettingsAndVariants() {
    OnnxDecoder.SessionSettings low = WorkerVerticle.sessionSettings(new WorkerOptions().setOptimizationLevel("low"));
    assertEquals(OptLevel.BASIC_OPT, low.optLevel());
    assertEquals(1, low.intraOpThreads());
    assertEquals(1, low.decodeLanes());
    assertEquals("fp32", low.variants().get(0));
    // the default is medium: fp32, so greedy output stays equal to the reference
    OnnxDecoder.SessionSettings medium = WorkerVerticle.sessionSettings(new WorkerOptions());
    assertEquals(OptLevel.ALL_OPT, medium.optLevel());
    assertEquals(List.of("fp32", "int8", "int4"), medium.variants());
    assertEquals(0, medium.decodeLanes());           // sized to the model and cores at load
    assertEquals(0, medium.laneCores());
    OnnxDecoder.SessionSettings high = WorkerVerticle.sessionSettings(new WorkerOptions().setOptimizationLevel("high"));
    assertEquals(OptLevel.ALL_OPT, high.optLevel());
    assertEquals(0, high.intraOpThreads());          // sized to the model at load
    // high: int4 where present, else fp32; int8 (slower than fp32 on the CPU provider) only when it is all there is
    assertEquals(List.of("int4", "fp32", "int8"), high.variants());
    OnnxDecoder.SessionSettings asked = WorkerVerticle.sessionSettings(new WorkerOptions().setOptimizationLevel("high")
        .setModelVariant("int8"));
    assertEquals(List.of("int8", "fp32", "int4"), asked.variants());
    OnnxDecoder.SessionSettings forced = WorkerVerticle.sessionSettings(new WorkerOptions().setModelVariant("fp32")
        .setIntraOpThreads(3).setDecodeLanes(2).setOptimizationLevel("low"));
    assertEquals("fp32", forced.variants().get(0));
    assertEquals(3, forced.intraOpThreads());
    assertEquals(2, forced.decodeLanes());
    WorkerOptions halved = new WorkerOptions(new JsonObject().put("laneCores", 3).put("decodeLanes", 0));
    assertEquals(3, WorkerVerticle.sessionSettings(halved).laneCores());
    assertEquals(halved.toJson(), new WorkerOptions(halved.toJson()).toJson());
  }

  @Test void providerFallsBackToTheCpuWithAReason() throws Exception {
    try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
      // this build of ONNX Runtime has the CPU provider only
      assertEquals("cpu", ExecutionProviders.configure(o, "auto"));
      assertEquals("cpu", ExecutionProviders.configure(o, "cuda"));
      assertEquals("cpu", ExecutionProviders.configure(o, "coreml"));
      assertThrows(IllegalArgumentException.class, () -> ExecutionProviders.configure(o, "tpu"));
      System.setProperty(ExecutionProviders.PROVIDER_PROPERTY, "bogus");
      try {
        // the system property wins over the configured value
        assertThrows(IllegalArgumentException.class, () -> ExecutionProviders.configure(o, "cpu"));
      } finally {
        System.clearProperty(ExecutionProviders.PROVIDER_PROPERTY);
      }
    }
  }

  @Test void variantFilesAreChosenByPreference(@TempDir Path models) throws Exception {
    Path folder = ModelFixtures.importModel(ModelFixtures.STORIES, models);
    assertEquals("model.onnx", ModelConfig.read(folder, List.of("int4", "int8", "fp32")).modelFile().getFileName()
        .toString());
    Files.copy(folder.resolve("model.onnx"), folder.resolve("model_int8.onnx"));
    ModelConfig int8 = ModelConfig.read(folder, List.of("int4", "int8", "fp32"));
    assertEquals("model_int8.onnx", int8.modelFile().getFileName().toString());
    assertEquals("int8", int8.variant());
    assertEquals("model.onnx", ModelConfig.read(folder, List.of("fp32", "int8")).modelFile().getFileName().toString());
    // high passes an int8 file by for fp32, takes int4 where there is one, and int8 only when it is all there is
    List<String> high = WorkerVerticle.sessionSettings(new WorkerOptions().setOptimizationLevel("high")).variants();
    assertEquals("model.onnx", ModelConfig.read(folder, high).modelFile().getFileName().toString());
    assertEquals(folder.resolve("model_int8.onnx"), ModelConfig.variantFile(folder, "int8"));
    assertEquals(null, ModelConfig.variantFile(folder, "int4"));
    Files.copy(folder.resolve("model.onnx"), folder.resolve("model_q4.onnx"));
    assertEquals("model_q4.onnx", ModelConfig.read(folder, high).modelFile().getFileName().toString());
    Files.delete(folder.resolve("model_q4.onnx"));
    Files.delete(folder.resolve("model.onnx"));
    assertEquals("model_int8.onnx", ModelConfig.read(folder, high).modelFile().getFileName().toString());
  }
}
