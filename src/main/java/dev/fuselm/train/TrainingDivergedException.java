package dev.fuselm.train;

/** The loss or gradient norm became NaN or infinite; training stopped before updating weights. */
public final class TrainingDivergedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public TrainingDivergedException(String message) {
    super(message);
  }
}
