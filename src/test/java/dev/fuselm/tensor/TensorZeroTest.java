package dev.fuselm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * {@link Tensor#zero()} over buffers large enough that the CPU backend splits the memset over its
 * threads (4 MiB and up, in 1 MiB chunks): every byte is cleared, including a ragged last chunk,
 * and nothing past the tensor is touched.
 */
class TensorZeroTest {
  @Test
  void largeZeroClearsEveryElementOnAnyThreadCount() {
    for (int threads : new int[] {1, 2, 3}) {
      try (ComputeContext ctx = ComputeContext.create()) {
        ctx.threads(threads);
        int n = (5 << 20) / 4 + 37; // 5 MiB + 148 bytes: five whole chunks and a ragged sixth
        float[] ones = new float[n + 16];
        Arrays.fill(ones, 1f);
        try (Tensor all = Tensor.of(ctx, ones, n + 16)) {
          Tensor head = all.view(0, n);
          head.zero();
          float[] back = all.toFloatArray();
          for (int i = 0; i < n; i++) {
            if (back[i] != 0f) {
              assertEquals(0f, back[i], "element " + i + " at " + threads + " threads");
            }
          }
          for (int i = n; i < n + 16; i++) {
            assertEquals(1f, back[i], "past the end, element " + i);
          }
        }
      }
    }
  }
}
