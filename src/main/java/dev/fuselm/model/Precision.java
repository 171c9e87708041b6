package dev.fuselm.model;

/**
 * The arithmetic of a GPT's matrix multiplications in training and evaluation.
 *
 * <p>{@link #FP32}: everything in float32 (the default). {@link #BF16}: mixed precision: the
 * GEMMs of the block linears and the LM head read bfloat16 copies of their weights and inputs (and
 * of the output gradient in backward) and accumulate in float32; master weights, gradients, the
 * optimizer, layer norms, attention, softmax/cross-entropy, GELU, embeddings and biases stay
 * float32.
 */
public enum Precision {
  FP32("fp32"),
  BF16("bf16");

  private final String label;

  Precision(String label) {
    this.label = label;
  }

  /** The name used by the CLI ({@code --precision}) and in training-state metadata. */
  public String label() {
    return label;
  }

  /** The precision named fp32 or bf16. */
  public static Precision parse(String s) {
    for (Precision p : values()) {
      if (p.label.equals(s)) {
        return p;
      }
    }
    throw new IllegalArgumentException("--precision must be fp32 or bf16, got " + s);
  }

  @Override
  public String toString() {
    return label;
  }
}
