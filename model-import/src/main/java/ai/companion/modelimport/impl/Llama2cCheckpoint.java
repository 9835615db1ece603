package ai.companion.modelimport.impl;

import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_ATT;
import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_FFN;
import static ai.companion.modelimport.LlamaWeights.Tensor.RMS_FINAL;
import static ai.companion.modelimport.LlamaWeights.Tensor.TOKEN_EMBEDDING;
import static ai.companion.modelimport.LlamaWeights.Tensor.W1;
import static ai.companion.modelimport.LlamaWeights.Tensor.W2;
import static ai.companion.modelimport.LlamaWeights.Tensor.W3;
import static ai.companion.modelimport.LlamaWeights.Tensor.WCLS;
import static ai.companion.modelimport.LlamaWeights.Tensor.WK;
import static ai.companion.modelimport.LlamaWeights.Tensor.WO;
import static ai.companion.modelimport.LlamaWeights.Tensor.WQ;
import static ai.companion.modelimport.LlamaWeights.Tensor.WV;

import ai.companion.modelimport.LlamaConfig;
import ai.companion.modelimport.LlamaWeights;
import ai.companion.modelimport.ModelImportException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Reads llama2.c checkpoints into memory, checking that the file holds exactly what its header
 * promises:
 *
 * <ul>
 *   <li>version 0 (legacy, run.c): 7 int32 header, fp32 weights, the RoPE tables, wcls when
 *       vocab_size is negative;
 *   <li>version 1 (export.py): magic "ak42", version, header, shared_classifier byte, padding to 256,
 *       fp32 norms then fp32 matrices;
 *   <li>version 2 (export.py, runq.c): as version 1 with a group_size after the flag and every matrix
 *       stored as int8 followed by its fp32 per-group scales; dequantized here.
 * </ul>
 */
public final class Llama2cCheckpoint implements LlamaWeights {
  public static final int MAGIC = 0x616b3432;
  private static final int MAX_DIM = 1 << 16;
  private static final int MAX_LAYERS = 1024;
  private static final int MAX_VOCAB = 1 << 22;
  private static final int MAX_SEQ = 1 << 22;
  private static final int V0_HEADER_BYTES = 28;
  private static final int V12_HEADER_BYTES = 256;

  private final LlamaConfig config;
  private final int version;
  private final Map<Tensor, float[][]> tensors;

  private Llama2cCheckpoint(LlamaConfig config, int version, Map<Tensor, float[][]> tensors) {
    this.config = config;
    this.version = version;
    this.tensors = tensors;
  }

  @Override
  public LlamaConfig config() {
    return config;
  }

  /** 0, 1 or 2. */
  public int version() {
    return version;
  }

  /** "fp32" or "int8": the precision the file stores its matrices in. */
  public String variant() {
    return version == 2 ? "int8" : "fp32";
  }

  @Override
  public float[] tensor(Tensor tensor, int layer) {
    float[][] t = tensors.get(tensor);
    if (t == null) throw new IllegalArgumentException("no tensor " + tensor);
    return t[tensor.perLayer() ? layer : 0];
  }

  public static Llama2cCheckpoint read(Path file) throws ModelImportException {
    long size;
    ByteBuffer buf;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      size = ch.size();
      if (size < 4) {
        throw new ModelImportException(file, "not a llama2.c checkpoint: only " + size + " bytes");
      }
      if (size > Integer.MAX_VALUE) {
        throw new ModelImportException(file, "checkpoint of " + size
            + " bytes is too big to import (the limit is 2 GiB)");
      }
      buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
    } catch (IOException e) {
      throw new ModelImportException(file, "cannot read checkpoint: " + e, e);
    }
    if (buf.getInt(0) == MAGIC) return readExported(file, buf, size);
    if (size < V0_HEADER_BYTES) {
      throw new ModelImportException(file, "not a llama2.c checkpoint: only " + size + " bytes");
    }
    return readLegacy(file, buf, size);
  }

  private static int[] header(ByteBuffer buf, int at) {
    int[] h = new int[7];
    for (int i = 0; i < 7; i++) h[i] = buf.getInt(at + 4 * i);
    return h;
  }

  private static LlamaConfig config(Path file, int[] h, boolean shared, String kind)
      throws ModelImportException {
    int dim = h[0];
    int hidden = h[1];
    int layers = h[2];
    int heads = h[3];
    int kvHeads = h[4];
    int vocab = Math.abs(h[5]);
    int seq = h[6];
    String sizes = "dim " + dim + ", hidden_dim " + hidden + ", n_layers " + layers + ", n_heads "
        + heads + ", n_kv_heads " + kvHeads + ", vocab_size " + h[5] + ", seq_len " + seq;
    boolean plausible = dim > 0 && dim <= MAX_DIM && hidden > 0 && hidden <= 8 * MAX_DIM
        && layers > 0 && layers <= MAX_LAYERS && heads > 0 && heads <= dim && kvHeads > 0
        && kvHeads <= heads && h[5] != 0 && h[5] != Integer.MIN_VALUE && vocab <= MAX_VOCAB
        && seq > 0 && seq <= MAX_SEQ;
    if (!plausible) {
      throw new ModelImportException(file, "not a llama2.c checkpoint (" + kind + "): the header reads "
          + sizes);
    }
    try {
      return LlamaConfig.of(dim, hidden, layers, heads, kvHeads, vocab, seq, shared);
    } catch (IllegalArgumentException e) {
      throw new ModelImportException(file, "not a usable llama2.c checkpoint (" + kind + "): "
          + e.getMessage() + " (header: " + sizes + ")");
    }
  }

  /** Version 0: run.c's layout. */
  private static Llama2cCheckpoint readLegacy(Path file, ByteBuffer buf, long size)
      throws ModelImportException {
    int[] h = header(buf, 0);
    LlamaConfig c = config(file, h, h[5] > 0, "legacy version 0 layout");
    long ropeTables = 2L * c.seqLen() * (c.headDim() / 2);
    long floats = ropeTables;
    for (Tensor t : Tensor.values()) {
      if (t == WCLS && c.sharedClassifier()) continue;
      floats += t.size(c) * (t.perLayer() ? c.nLayers() : 1);
    }
    long expected = V0_HEADER_BYTES + 4 * floats;
    checkSize(file, size, expected, c, "legacy version 0 layout");
    FloatReader r = new FloatReader(file, buf, V0_HEADER_BYTES);
    Map<Tensor, float[][]> m = new EnumMap<>(Tensor.class);
    for (Tensor t : List.of(TOKEN_EMBEDDING, RMS_ATT, WQ, WK, WV, WO, RMS_FFN, W1, W2, W3,
        RMS_FINAL)) {
      m.put(t, r.tensor(t, c));
    }
    r.skip(ropeTables); // legacy freq_cis_real / freq_cis_imag: the graph computes RoPE itself
    if (!c.sharedClassifier()) m.put(WCLS, r.tensor(WCLS, c));
    return new Llama2cCheckpoint(c, 0, m);
  }

  /** Versions 1 and 2: export.py's layout. */
  private static Llama2cCheckpoint readExported(Path file, ByteBuffer buf, long size)
      throws ModelImportException {
    if (size < V12_HEADER_BYTES) {
      throw new ModelImportException(file, "truncated llama2.c checkpoint: the header alone needs "
          + V12_HEADER_BYTES + " bytes, the file has " + size);
    }
    int version = buf.getInt(4);
    if (version != 1 && version != 2) {
      throw new ModelImportException(file, "llama2.c checkpoint version " + version
          + " is not supported (versions 0, 1 and 2 are)");
    }
    String kind = "version " + version + " layout";
    int[] h = header(buf, 8);
    int flag = buf.get(36);
    if (flag != 0 && flag != 1) {
      throw new ModelImportException(file, "not a llama2.c checkpoint (" + kind
          + "): shared_classifier byte is " + flag);
    }
    LlamaConfig c = config(file, h, flag == 1, kind);
    int groupSize = version == 2 ? buf.getInt(37) : 0;
    List<Tensor> matrices = List.of(TOKEN_EMBEDDING, WQ, WK, WV, WO, W1, W2, W3);
    if (version == 2) {
      if (groupSize < 1 || groupSize > 1 << 20) {
        throw new ModelImportException(file, "not a llama2.c checkpoint (" + kind + "): group_size "
            + groupSize);
      }
      for (Tensor t : matrices) {
        if (t.size(c) % groupSize != 0) {
          throw new ModelImportException(file, "group_size " + groupSize + " does not divide "
              + t + " (" + t.size(c) + " values)");
        }
      }
    }
    long norms = (2L * c.nLayers() + 1) * c.dim();
    long bytes = V12_HEADER_BYTES + 4 * norms;
    for (Tensor t : c.sharedClassifier() ? matrices : append(matrices, WCLS)) {
      long n = t.size(c) * (t.perLayer() ? c.nLayers() : 1);
      bytes += version == 2 ? n + 4 * (n / groupSize) : 4 * n;
    }
    checkSize(file, size, bytes, c, kind + (version == 2 ? ", group_size " + groupSize : ""));

    FloatReader r = new FloatReader(file, buf, V12_HEADER_BYTES);
    Map<Tensor, float[][]> m = new EnumMap<>(Tensor.class);
    m.put(RMS_ATT, r.tensor(RMS_ATT, c));
    m.put(RMS_FFN, r.tensor(RMS_FFN, c));
    m.put(RMS_FINAL, r.tensor(RMS_FINAL, c));
    for (Tensor t : c.sharedClassifier() ? matrices : append(matrices, WCLS)) {
      m.put(t, version == 2 ? r.q8Tensor(t, c, groupSize) : r.tensor(t, c));
    }
    return new Llama2cCheckpoint(c, version, m);
  }

  private static List<Tensor> append(List<Tensor> list, Tensor t) {
    var out = new java.util.ArrayList<>(list);
    out.add(t);
    return out;
  }

  private static void checkSize(Path file, long size, long expected, LlamaConfig c, String kind)
      throws ModelImportException {
    if (size < expected) {
      throw new ModelImportException(file, "truncated llama2.c checkpoint: the header (" + kind + ", "
          + c + ") needs " + expected + " bytes, the file has " + size);
    }
    if (size > expected) {
      throw new ModelImportException(file, "not a llama2.c checkpoint of the " + kind
          + " it claims: " + (size - expected) + " bytes more than the " + expected + " its header ("
          + c + ") accounts for");
    }
  }

  /** Reads consecutive tensors, rejecting non-finite values (a sign of a foreign file). */
  private static final class FloatReader {
    private final Path file;
    private final ByteBuffer buf;
    private long pos;

    FloatReader(Path file, ByteBuffer buf, long pos) {
      this.file = file;
      this.buf = buf;
      this.pos = pos;
    }

    void skip(long floats) {
      pos += 4 * floats;
    }

    float[][] tensor(Tensor t, LlamaConfig c) throws ModelImportException {
      int count = t.perLayer() ? c.nLayers() : 1;
      float[][] out = new float[count][];
      for (int l = 0; l < count; l++) {
        float[] a = new float[Math.toIntExact(t.size(c))];
        long start = pos;
        for (int i = 0; i < a.length; i++) {
          float v = buf.getFloat(Math.toIntExact(pos));
          if (!Float.isFinite(v)) {
            throw new ModelImportException(file, "not a llama2.c checkpoint: " + t
                + (t.perLayer() ? " of layer " + l : "") + " holds " + v + " at byte " + pos
                + " (tensor starts at byte " + start + ")");
          }
          a[i] = v;
          pos += 4;
        }
        out[l] = a;
      }
      return out;
    }

    float[][] q8Tensor(Tensor t, LlamaConfig c, int groupSize) throws ModelImportException {
      int count = t.perLayer() ? c.nLayers() : 1;
      float[][] out = new float[count][];
      for (int l = 0; l < count; l++) {
        int n = Math.toIntExact(t.size(c));
        byte[] q = new byte[n];
        buf.get(Math.toIntExact(pos), q);
        pos += n;
        float[] a = new float[n];
        for (int gi = 0; gi < n / groupSize; gi++) {
          float s = buf.getFloat(Math.toIntExact(pos));
          if (!Float.isFinite(s)) {
            throw new ModelImportException(file, "not a llama2.c checkpoint: " + t
                + (t.perLayer() ? " of layer " + l : "") + " has scale " + s + " at byte " + pos);
          }
          pos += 4;
          for (int i = gi * groupSize; i < (gi + 1) * groupSize; i++) a[i] = q[i] * s;
        }
        out[l] = a;
      }
      return out;
    }
  }
}
