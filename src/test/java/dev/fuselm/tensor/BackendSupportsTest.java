package dev.fuselm.tensor;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Backend.supports: fl_backend_supports over the op table of native/include/fuselm_ops.def. */
class BackendSupportsTest {
  @Test
  void hostBackendsHaveEveryOpAndCudaNoHostOnlyOne() {
    for (Backend b : new Backend[] {Backend.REFERENCE, Backend.CPU}) {
      assertTrue(b.supports("sgemm"), b + " sgemm");
      assertTrue(b.supports("fl_attention_forward_dropout"), b + " fl_ prefix");
      assertTrue(b.supports("attention_forward_varlen"), b + " varlen");
      assertTrue(b.supports("gemv_q8_0"), b + " q8");
    }
    // the packed (varlen) attention and the int8 ops have no CUDA kernel, built with CUDA or not
    assertFalse(Backend.CUDA.supports("attention_forward_varlen"));
    assertFalse(Backend.CUDA.supports("q8_0_repack"));
  }

  @Test
  void unknownOpIsAnIllegalArgument() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Backend.CPU.supports("no_such_op"));
    assertTrue(e.getMessage().contains("no_such_op"), e.getMessage());
  }
}
