package ai.companion.worker.impl;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What a model folder in the Hugging Face ONNX export layout says about itself: {@code config.json} (sizes),
 * {@code generation_config.json} (bos/eos, optional), {@code tokenizer_config.json} (chat template, optional) and
 * {@code companion.json} (description and variant, optional).
 */
public record ModelConfig(String id, Path folder, Path modelFile, String modelType, int layers, int heads, int kvHeads, int headDim,
                          int hiddenSize, int intermediateSize, int vocabSize, int contextLength, boolean tiedEmbeddings,
                          int bosTokenId, List<Integer> eosTokenIds, boolean hasChatTemplate, String description,
                          String variant, long parameters) {

  public static final String CONFIG = "config.json";
  public static final String MODEL = "model.onnx";
  public static final String TOKENIZER = "tokenizer.json";
  public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
  public static final String GENERATION_CONFIG = "generation_config.json";
  public static final String COMPANION = "companion.json";
  /**
   * The same decoder as {@link #MODEL} with the key/value cache updated in place (ONNX Runtime's GroupQueryAttention),
   * written beside it by the importer (its ModelFolder.IN_PLACE_MODEL_FILE); the worker prefers it.
   */
  public static final String IN_PLACE_MODEL = inPlaceFileName(MODEL);

  /** Model files per variant, named as optimum / transformers.js name them; the first present wins. */
  public static final Map<String, List<String>> VARIANT_FILES = Map.of(
      "fp32", List.of(MODEL),
      "int8", List.of("model_int8.onnx", "model_quantized.onnx"),
      "int4", List.of("model_q4.onnx", "model_int4.onnx"));

  public ModelConfig {
    eosTokenIds = List.copyOf(eosTokenIds);
  }

  /** Reads a model folder, serving its fp32 {@code model.onnx} (or another variant when that is all there is). */
  public static ModelConfig read(Path folder) throws IOException {
    return read(folder, List.of("fp32", "int8", "int4"));
  }

  /** The folder's file of one variant (fp32, int8, int4), the first name of {@link #VARIANT_FILES} present; or null. */
  public static Path variantFile(Path folder, String variant) {
    for (String f : VARIANT_FILES.getOrDefault(variant, List.of())) {
      if (Files.isRegularFile(folder.resolve(f))) return folder.resolve(f);
    }
    return null;
  }

  /**
   * Reads a model folder's descriptors; a missing file or field fails with a message naming the folder and the file.
   *
   * @param variants variants in order of preference (fp32, int8, int4); the first whose file is present is served
   */
  public static ModelConfig read(Path folder, List<String> variants) throws IOException {
    String id = folder.getFileName().toString();
    JsonObject config = json(folder, CONFIG, true);
    if (!Files.isRegularFile(folder.resolve(TOKENIZER))) {
      throw new IOException("model folder " + folder + " has no " + TOKENIZER);
    }
    Path modelFile = null;
    String chosen = null;
    for (String v : variants) {
      Path f = variantFile(folder, v);
      if (modelFile == null && f != null) {
        modelFile = f;
        chosen = v;
      }
    }
    if (modelFile == null) throw new IOException("model folder " + folder + " has no " + MODEL);
    JsonObject generation = json(folder, GENERATION_CONFIG, false);
    JsonObject tokenizerConfig = json(folder, TOKENIZER_CONFIG, false);
    JsonObject companion = json(folder, COMPANION, false);

    String type = config.getString("model_type");
    if (type == null) throw new IOException(folder.resolve(CONFIG) + ": no model_type");
    int layers = required(folder, config, "num_hidden_layers");
    int heads = required(folder, config, "num_attention_heads");
    int hidden = required(folder, config, "hidden_size");
    int kvHeads = config.getInteger("num_key_value_heads", heads);
    int headDim = config.getInteger("head_dim", hidden / heads);
    int vocab = required(folder, config, "vocab_size");
    int context = required(folder, config, "max_position_embeddings");
    int intermediate = config.getInteger("intermediate_size", 0);
    boolean tied = config.getBoolean("tie_word_embeddings", false);

    Integer bos = generation.getInteger("bos_token_id", config.getInteger("bos_token_id"));
    if (bos == null) throw new IOException(folder + ": no bos_token_id in " + GENERATION_CONFIG + " or " + CONFIG);
    List<Integer> eos = ids(generation.getValue("eos_token_id", config.getValue("eos_token_id")));
    if (eos.isEmpty()) throw new IOException(folder + ": no eos_token_id in " + GENERATION_CONFIG + " or " + CONFIG);

    long params = companion.getLong("parameters", 0L);
    if (params <= 0) params = estimateLlamaParameters(layers, hidden, heads, kvHeads, headDim, intermediate, vocab, tied);
    String variant = chosen.equals("fp32") ? companion.getString("variant", "fp32") : chosen;
    return new ModelConfig(id, folder, modelFile, type, layers, heads, kvHeads, headDim, hidden, intermediate, vocab, context,
        tied, bos, eos, tokenizerConfig.getValue("chat_template") != null, companion.getString("description", ""),
        variant, params);
  }

  /**
   * The in-place cache decoder with the weights of the served file ({@link #IN_PLACE_MODEL} for model.onnx,
   * model_q4_inplace_kv.onnx for model_q4.onnx: the quantizer writes both), or null when the folder has none.
   */
  public Path inPlaceModelFile() {
    Path p = folder.resolve(inPlaceFileName(modelFile.getFileName().toString()));
    return Files.isRegularFile(p) ? p : null;
  }

  /**
   * The in-place cache decoder's file for a model file: model.onnx gives model_inplace_kv.onnx, model_q4.onnx
   * model_q4_inplace_kv.onnx (the importer and quantizer name them by the same rule, ModelFolder.inPlaceFileName).
   */
  static String inPlaceFileName(String modelFile) {
    return modelFile.replaceFirst("\\.onnx$", "") + "_inplace_kv.onnx";
  }

  public boolean isEos(int token) {
    return eosTokenIds.contains(token);
  }

  /** Weight count of a llama decoder with these sizes (norms included). */
  static long estimateLlamaParameters(int layers, int hidden, int heads, int kvHeads, int headDim, int intermediate,
                                      int vocab, boolean tied) {
    long perLayer = 2L * hidden                                   // two RMSNorms
        + (long) hidden * heads * headDim * 2                     // wq, wo
        + (long) hidden * kvHeads * headDim * 2                   // wk, wv
        + 3L * hidden * intermediate;                             // w1, w2, w3
    return (long) vocab * hidden * (tied ? 1 : 2) + layers * perLayer + hidden;
  }

  private static int required(Path folder, JsonObject j, String key) throws IOException {
    Integer v = j.getInteger(key);
    if (v == null || v <= 0) throw new IOException(folder.resolve(CONFIG) + ": missing or invalid " + key);
    return v;
  }

  private static List<Integer> ids(Object v) {
    List<Integer> out = new ArrayList<>();
    if (v instanceof Number n) out.add(n.intValue());
    if (v instanceof JsonArray a) a.forEach(o -> out.add(((Number) o).intValue()));
    return out;
  }

  private static JsonObject json(Path folder, String name, boolean required) throws IOException {
    Path p = folder.resolve(name);
    try {
      return new JsonObject(Files.readString(p));
    } catch (NoSuchFileException e) {
      if (required) throw new IOException("model folder " + folder + " has no " + name);
      return new JsonObject();
    } catch (DecodeException | ClassCastException e) {
      throw new IOException(p + " is not valid JSON: " + e.getMessage());
    }
  }
}
