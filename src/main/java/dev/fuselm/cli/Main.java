package dev.fuselm.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import dev.fuselm.bench.BenchCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code fuselm} command. Errors a user can cause print one line and exit with code 2. */
@Command(
    name = "fuselm",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Build, train and run GPT- and BERT-style language models on native kernels.",
    subcommands = {
      DemoCommand.class, TrainCommand.class, GenerateCommand.class, EvalCommand.class,
      TokenizeCommand.class, BpeTrainCommand.class,
      FinetuneClassifyCommand.class, ClassifyCommand.class, FinetuneInstructCommand.class, ChatCommand.class,
      TrainMlmCommand.class, EmbedCommand.class, ImportCommand.class, ServeCommand.class,
      BenchCommand.class})
public final class Main implements Runnable {
  /** Exit code for errors in the user's input (bad file, bad flag value). */
  public static final int EXIT_USER_ERROR = 2;

  @Override
  public void run() {
    CommandLine.usage(this, System.out);
  }

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line and returns its exit code (tests call this). */
  public static int execute(String... args) {
    // The library logs through SLF4J; the CLI binds it to java.util.logging (slf4j-jdk14), here set
    // to one short line per record on stderr (e.g. the backend choice), not the JDK's two-line form.
    if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
      System.setProperty("java.util.logging.SimpleFormatter.format", "fuselm: %5$s%6$s%n");
    }
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler(
        (ex, commandLine, parseResult) -> {
          if (isUserError(ex)) {
            commandLine.getErr().println("fuselm: " + ex.getMessage());
            if (Boolean.getBoolean("fuselm.debug")) {
              ex.printStackTrace(commandLine.getErr());
            }
            return EXIT_USER_ERROR;
          }
          throw ex;
        });
    return cli.execute(args);
  }

  private static boolean isUserError(Exception ex) {
    return ex instanceof UserInputException
        || ex instanceof IllegalArgumentException
        || ex instanceof IOException
        || ex instanceof UncheckedIOException;
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"fuselm " + (v == null ? "(development build)" : v)};
    }
  }
}
