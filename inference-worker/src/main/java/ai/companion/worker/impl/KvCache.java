package ai.companion.worker.impl;

import ai.onnxruntime.OnnxTensor;

/**
 * The key/value cache of a group of sequences prefilled together, before they join the decode batch: per layer
 * key and value, [rows, kv_heads, length, head_dim], each row left-padded to {@code length}.
 */
public final class KvCache implements AutoCloseable {
  private OnnxTensor[] tensors;
  private final int length;
  private final int rows;

  KvCache(OnnxTensor[] tensors, int length, int rows) {
    this.tensors = tensors;
    this.length = length;
    this.rows = rows;
  }

  public int length() { return length; }

  public int rows() { return rows; }

  OnnxTensor[] tensors() { return tensors; }

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
