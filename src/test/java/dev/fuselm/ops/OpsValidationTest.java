package dev.fuselm.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fuselm.tensor.Backend;
import dev.fuselm.tensor.ComputeContext;
import dev.fuselm.tensor.DType;
import dev.fuselm.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Wrong input never reaches C: each op rejects it with a message naming the tensor and shapes. */
class OpsValidationTest {
  private static ComputeContext ctx;

  @BeforeAll
  static void setUp() {
    ctx = ComputeContext.create(Backend.CPU);
  }

  @AfterAll
  static void tearDown() {
    ctx.close();
  }

  private static void rejects(Executable call, String... fragments) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    for (String f : fragments) {
      assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' lacks '" + f + "'");
    }
  }

  @Test
  void gemmRejectsMismatchedShapes() {
    try (Tensor a = Tensor.zeros(ctx, 4, 5); Tensor b = Tensor.zeros(ctx, 6, 3);
        Tensor c = Tensor.zeros(ctx, 4, 3); Tensor bad = Tensor.zeros(ctx, 4, 4)) {
      rejects(() -> GemmOps.sgemm(ctx, false, false, 1f, a, b, 0f, c), "sgemm", "K = 5", "K = 6");
      try (Tensor c45 = Tensor.zeros(ctx, 4, 5)) {
        rejects(() -> GemmOps.sgemm(ctx, false, true, 1f, a, a, 0f, c45), "c has shape float32[4, 5]",
            "expected float32[4, 4]");
      }
      rejects(() -> GemmOps.sgemmBias(ctx, false, true, a, a, c, bad), "bias");
    }
  }

  @Test
  void closedTensorsAndWrongTypesAreRejected() {
    Tensor a = Tensor.zeros(ctx, 3);
    Tensor out = Tensor.zeros(ctx, 3);
    a.close();
    rejects(() -> PointwiseOps.geluForward(ctx, out, a), "inp", "closed");
    try (Tensor ints = Tensor.zeros(ctx, DType.INT32, 3)) {
      rejects(() -> PointwiseOps.geluForward(ctx, out, ints), "inp", "INT32".toLowerCase(), "FLOAT32");
    }
    out.close();
    assertThrows(IllegalStateException.class, out::address);
  }

  @Test
  void tensorsOfAnotherBackendAreRejected() {
    try (ComputeContext ref = ComputeContext.create(Backend.REFERENCE);
        Tensor x = Tensor.zeros(ref, 3); Tensor y = Tensor.zeros(ctx, 3)) {
      rejects(() -> PointwiseOps.add(ctx, y, x, y), "lives on REFERENCE", "runs on CPU");
    }
  }

  @Test
  void attentionChecksHeadsAndLayout() {
    try (Tensor qkv = Tensor.zeros(ctx, 2, 4, 12); Tensor out = Tensor.zeros(ctx, 2, 4, 4);
        Tensor lse = Tensor.zeros(ctx, 2, 3, 4); Tensor bad = Tensor.zeros(ctx, 2, 4, 10)) {
      rejects(() -> AttentionOps.forward(ctx, out, lse, qkv, null, 3, true), "not divisible by 3 heads");
      rejects(() -> AttentionOps.forward(ctx, out, lse, bad, null, 2, true), "(B, T, 3C)");
      rejects(() -> AttentionOps.forward(ctx, out, lse, qkv, null, 2, true), "lse");
      try (Tensor mask = Tensor.zeros(ctx, DType.INT32, 2, 5)) {
        rejects(() -> AttentionOps.forward(ctx, out, lse, qkv, mask, 4, true), "key_mask");
      }
    }
  }

  @Test
  void attentionDropoutRateMustBeInZeroOne() {
    try (Tensor qkv = Tensor.zeros(ctx, 2, 4, 12); Tensor out = Tensor.zeros(ctx, 2, 4, 4);
        Tensor lse = Tensor.zeros(ctx, 2, 2, 4); Tensor dqkv = Tensor.zeros(ctx, 2, 4, 12)) {
      for (float p : new float[] {-0.1f, 1f, Float.NaN}) {
        rejects(() -> AttentionOps.forward(ctx, out, lse, qkv, null, 2, true, p, 1L),
            "attention_forward", "dropout must be in [0, 1)");
        rejects(() -> AttentionOps.backward(ctx, dqkv, out, qkv, out, lse, null, 2, true, p, 1L),
            "attention_backward", "dropout must be in [0, 1)");
      }
    }
  }

  @Test
  void outOfRangeTokenIdsAndTargetsAreRejected() {
    try (Tensor ids = Tensor.ofInts(ctx, new int[] {0, 3, 7}, 1, 3); Tensor wte = Tensor.zeros(ctx, 5, 2);
        Tensor out = Tensor.zeros(ctx, 1, 3, 2)) {
      rejects(() -> EmbeddingOps.forward(ctx, out, ids, wte, null), "token id 7", "position 2", "[0, 5)");
      try (Tensor wpe = Tensor.zeros(ctx, 2, 2)) {
        rejects(() -> EmbeddingOps.forward(ctx, out, ids, wte, wpe), "wpe", "maxT >= 3");
      }
    }
    try (Tensor logits = Tensor.zeros(ctx, 2, 4); Tensor lse = Tensor.zeros(ctx, 2);
        Tensor targets = Tensor.ofInts(ctx, new int[] {1, 4}, 2)) {
      rejects(() -> SoftmaxOps.crossEntropyForward(ctx, null, lse, logits, targets), "targets[1] = 4");
    }
  }

  @Test
  void layerNormAndAdamwRejectBadArguments() {
    try (Tensor x = Tensor.zeros(ctx, 3, 4); Tensor out = Tensor.zeros(ctx, 3, 4);
        Tensor w = Tensor.zeros(ctx, 5); Tensor b = Tensor.zeros(ctx, 4)) {
      rejects(() -> LayerNormOps.forward(ctx, out, null, null, x, w, b, 1e-5f), "weight", "[5]", "[4]");
    }
    try (var p = dev.fuselm.tensor.ParameterSlab.builder().add("w", true, 3).build(ctx);
        var g = p.sameLayout(ctx); var m = p.sameLayout(ctx); var v = p.sameLayout(ctx)) {
      rejects(() -> OptimizerOps.adamwStep(ctx, p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 0, 1f), "t must be >= 1");
      rejects(() -> OptimizerOps.adamwStep(ctx, p, g, m, v, 1e-3f, 1.5f, 0.999f, 1e-8f, 0f, 1, 1f), "beta1");
    }
  }
}
