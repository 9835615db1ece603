package ai.companion.modelimport;

import ai.companion.modelimport.impl.Llama2cCheckpoint;
import ai.companion.modelimport.impl.ModelFolder;
import ai.companion.modelimport.impl.TokenizerFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Converts checkpoints into model folders in the Hugging Face ONNX layout:
 *
 * <pre>
 * modelsDir/NAME/config.json             model_type llama and its sizes
 *               model.onnx               the decoder with its KV cache (see LlamaGraph)
 *               tokenizer.json           BPE with byte fallback, same ids as the source tokenizer
 *               tokenizer_config.json
 *               generation_config.json
 *               companion.json           {"source", "sha256", "variant", "description"}
 * </pre>
 *
 * The folder appears complete or not at all. Blocking: call it off the event loop.
 */
public final class ModelImporter {
  private static final Logger LOG = LoggerFactory.getLogger(ModelImporter.class);
  /** Looked for beside the checkpoint when no tokenizer is given. */
  public static final String DEFAULT_TOKENIZER = "tok512.bin";
  public static final String COMPANION_FILE = "companion.json";

  private ModelImporter() {}

  /**
   * Imports a llama2.c checkpoint (version 0 fp32, version 1 fp32 or version 2 int8, which is
   * dequantized to fp32).
   *
   * @param tokenizerBin llama2.c tokenizer; null looks for {@value #DEFAULT_TOKENIZER} beside the
   *     checkpoint
   * @return the new model folder {@code modelsDir/name}
   */
  public static Path importLlama2c(Path checkpoint, Path tokenizerBin, String name, Path modelsDir,
      ProgressListener progress) throws ModelImportException {
    ModelFolder.checkName(name);
    if (progress == null) progress = ProgressListener.NONE;
    if (!Files.isRegularFile(checkpoint)) {
      throw new ModelImportException(checkpoint, "no such checkpoint file");
    }
    Path tokenizer = tokenizerBin;
    if (tokenizer == null) {
      tokenizer = checkpoint.toAbsolutePath().resolveSibling(DEFAULT_TOKENIZER);
      if (!Files.isRegularFile(tokenizer)) {
        throw new ModelImportException(checkpoint, "no tokenizer given and no " + DEFAULT_TOKENIZER
            + " beside the checkpoint; pass the llama2.c tokenizer file");
      }
    } else if (!Files.isRegularFile(tokenizer)) {
      throw new ModelImportException(tokenizer, "no such tokenizer file");
    }
    Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
    LlamaConfig c = weights.config();
    Llama2cTokenizer tok = Llama2cTokenizer.read(tokenizer, c.vocabSize());
    Map<String, Object> tokenizerJson = TokenizerFiles.tokenizerJson(tok);
    String sha256 = sha256(checkpoint);
    LOG.info("Importing {} (llama2.c version {}, {}) as {}", checkpoint.getFileName(),
        weights.version(), c, name);

    Map<String, Object> companion = new LinkedHashMap<>();
    companion.put("source", checkpoint.getFileName().toString());
    companion.put("sha256", sha256);
    companion.put("variant", weights.variant());
    companion.put("description", "");
    Map<String, String> metadata = Map.of("source", checkpoint.getFileName().toString(),
        "source_sha256", sha256);

    ProgressListener listener = progress;
    Path folder = ModelFolder.writeAtomically(modelsDir, name, dir -> {
      ModelFolder.writeOnnx(dir, weights, "Converting " + name, listener, metadata);
      ModelFolder.writeJson(dir.resolve("config.json"), ModelFolder.config(c));
      ModelFolder.writeJson(dir.resolve("generation_config.json"), ModelFolder.generationConfig());
      ModelFolder.writeJson(dir.resolve("tokenizer.json"), tokenizerJson);
      ModelFolder.writeJson(dir.resolve("tokenizer_config.json"),
          TokenizerFiles.tokenizerConfig(c.seqLen()));
      ModelFolder.writeJson(dir.resolve(COMPANION_FILE), companion);
    });
    LOG.info("Imported {} into {}", checkpoint.getFileName(), folder);
    return folder;
  }

  static String sha256(Path file) throws ModelImportException {
    try (InputStream in = Files.newInputStream(file)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
      return HexFormat.of().formatHex(md.digest());
    } catch (IOException e) {
      throw new ModelImportException(file, "cannot read: " + e, e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
