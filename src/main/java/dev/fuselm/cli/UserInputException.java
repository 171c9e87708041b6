package dev.fuselm.cli;

/** A mistake in what the user gave the command (a file, a flag, a value): printed as one line, exit 2. */
public class UserInputException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public UserInputException(String message) {
    super(message);
  }

  public UserInputException(String message, Throwable cause) {
    super(message, cause);
  }
}
