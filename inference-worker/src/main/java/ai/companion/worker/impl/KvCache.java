package ai.companion.worker.impl;

import ai.onnxruntime.OnnxTensor;
import java.nio.FloatBuffer;

/**
 * The key/value cache of a group of sequences prefilled together, before they join the decode batch: per layer
 * key and value, [rows, kv_heads, length, head_dim], each row left-padded to {@code length} (the standard graph) or
 * right-padded, its tokens from position 0 (the in-place graph; then {@code length} is the buffers' capacity).
 *
 * <p>Where the tensors are views of direct buffers (ONNX Runtime wrote into them, or the rows were copied there),
 * those buffers come along, so the rows can be read where they lie instead of through a heap copy.
 */
public final class KvCache implements AutoCloseable {
  private OnnxTensor[] tensors;
  private final FloatBuffer[] data;
  private final int length;
  private final int rows;
  private final boolean rightPadded;

  /** @param data the direct buffers under {@code tensors}, same order, or null where ONNX Runtime owns the memory */
  KvCache(OnnxTensor[] tensors, FloatBuffer[] data, int length, int rows, boolean rightPadded) {
    this.tensors = tensors;
    this.data = data;
    this.length = length;
    this.rows = rows;
    this.rightPadded = rightPadded;
  }

  /** Where the {@code p} cached tokens of a row start along the length axis. */
  int start(int p) {
    return rightPadded ? 0 : length - p;
  }

  public int length() { return length; }

  public int rows() { return rows; }

  OnnxTensor[] tensors() { return tensors; }

  /** The direct buffers under the tensors (read in place), or null when there are none. */
  FloatBuffer[] data() { return data; }

  /** Hands the tensors over (the batch now owns them); this cache no longer closes them. */
  OnnxTensor[] release() {
    OnnxTensor[] t = tensors;
    tensors = null;
    return t;
  }

  @Override public void close() {
    if (tensors == null) return;
    for (OnnxTensor t : tensors) t.close();
    tensors = null;
  }
}
