package ai.companion.modelimport.impl;

/**
 * Block-wise weight quantization in ONNX Runtime's MatMulNBits layout: a MatMul weight W [K, N] is
 * quantized per output column n in blocks of {@code blockSize} consecutive k, asymmetric with a zero
 * point per block, dequantized as {@code (q - zero_point) * scale}.
 *
 * <pre>
 * B           uint8 [N, blocks, blockSize * bits / 8]   codes packed low bits first along K
 * scales      float [N * blocks]
 * zero_points uint8 [N * ceil(blocks * bits / 8)]       packed the same way, per column n
 * </pre>
 */
public final class BlockQuantizer {
  private BlockQuantizer() {}

  /** The quantized form of one weight matrix. */
  public record Quantized(int k, int n, int bits, int blockSize, byte[] packed, float[] scales,
      byte[] zeroPoints) {

    public int blocks() {
      return blocksOf(k, blockSize);
    }

    /** W [K, N] as the runtime will see it, for checks. */
    public float[] dequantize() {
      float[] w = new float[k * n];
      int blocks = blocks();
      int blob = blockSize * bits / 8;
      int zpRow = (blocks * bits + 7) / 8;
      for (int col = 0; col < n; col++) {
        for (int b = 0; b < blocks; b++) {
          float scale = scales[col * blocks + b];
          int zp = unpack(zeroPoints, col * zpRow, b, bits);
          for (int i = 0; i < blockSize; i++) {
            int row = b * blockSize + i;
            if (row >= k) break;
            int q = unpack(packed, (col * blocks + b) * blob, i, bits);
            w[row * n + col] = (q - zp) * scale;
          }
        }
      }
      return w;
    }
  }

  public static int blocksOf(int k, int blockSize) {
    return (k + blockSize - 1) / blockSize;
  }

  /** Quantizes W [K, N] (row-major) with 4 or 8 bits. */
  public static Quantized quantize(float[] w, int k, int n, int bits, int blockSize) {
    if (bits != 4 && bits != 8) throw new IllegalArgumentException("bits must be 4 or 8, got " + bits);
    if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
      throw new IllegalArgumentException("block size must be a power of two >= 16, got " + blockSize);
    }
    if (w.length != k * n) throw new IllegalArgumentException(w.length + " values for " + k + "x" + n);
    int blocks = blocksOf(k, blockSize);
    int blob = blockSize * bits / 8;
    int zpRow = (blocks * bits + 7) / 8;
    int qmax = (1 << bits) - 1;
    byte[] packed = new byte[n * blocks * blob];
    float[] scales = new float[n * blocks];
    byte[] zeroPoints = new byte[n * zpRow];
    for (int col = 0; col < n; col++) {
      for (int b = 0; b < blocks; b++) {
        int from = b * blockSize;
        int to = Math.min(k, from + blockSize);
        // the range always holds 0, so zero (and the padding) is exact
        float min = 0f;
        float max = 0f;
        for (int row = from; row < to; row++) {
          float v = w[row * n + col];
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
        float scale = (max - min) / qmax;
        if (scale == 0f) scale = 1f;
        int zp = Math.max(0, Math.min(qmax, Math.round(-min / scale)));
        scales[col * blocks + b] = scale;
        pack(zeroPoints, col * zpRow, b, bits, zp);
        int base = (col * blocks + b) * blob;
        for (int i = 0; i < blockSize; i++) {
          int row = from + i;
          int q = row < to ? Math.max(0, Math.min(qmax, Math.round(w[row * n + col] / scale) + zp)) : zp;
          pack(packed, base, i, bits, q);
        }
      }
    }
    return new Quantized(k, n, bits, blockSize, packed, scales, zeroPoints);
  }

  private static void pack(byte[] dst, int base, int index, int bits, int value) {
    if (bits == 8) {
      dst[base + index] = (byte) value;
    } else {
      int at = base + index / 2;
      dst[at] = (byte) (index % 2 == 0 ? (dst[at] & 0xF0) | value : (dst[at] & 0x0F) | (value << 4));
    }
  }

  private static int unpack(byte[] src, int base, int index, int bits) {
    if (bits == 8) return src[base + index] & 0xFF;
    int b = src[base + index / 2] & 0xFF;
    return index % 2 == 0 ? b & 0x0F : b >>> 4;
  }
}
