package dev.fuselm.cli;

import dev.fuselm.bench.BenchCommand;
import dev.fuselm.tensor.NativeMemoryException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
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
      ExportCommand.class,
      BenchCommand.class, NgramCommand.class,
      FinetuneNerCommand.class, NerCommand.class, FinetuneDpoCommand.class, DpoPairsCommand.class})
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
    cli.setParameterExceptionHandler(Main::parseError);
    cli.setExecutionStrategy(parseResult -> {
      OptionChecks.check(parseResult);
      return new CommandLine.RunLast().execute(parseResult);
    });
    cli.setExecutionExceptionHandler(
        (ex, commandLine, parseResult) -> {
          if (isUserError(ex)) {
            commandLine.getErr().println("fuselm: " + oneLine(message(ex)));
            if (Boolean.getBoolean("fuselm.debug")) {
              ex.printStackTrace(commandLine.getErr());
            }
            return EXIT_USER_ERROR;
          }
          throw ex;
        });
    if (args.length > 0 && !args[0].startsWith("-")
        && !cli.getSubcommands().containsKey(args[0])
        && java.util.Arrays.stream(args).anyMatch(Main::isHelpOrVersion)) {
      // picocli prints the top-level usage with exit 0 when --help follows an unknown word; without
      // a help option its own error (with suggestions) applies
      cli.getErr().println("fuselm: Unmatched argument at index 0: '" + args[0] + "' is not a"
          + " fuselm command (see fuselm --help)");
      return EXIT_USER_ERROR;
    }
    return cli.execute(args);
  }

  private static boolean isHelpOrVersion(String arg) {
    return arg.equals("-h") || arg.equals("--help") || arg.equals("-V") || arg.equals("--version");
  }

  /**
   * A command line picocli cannot parse (an unknown option, a missing or malformed value) or a
   * value {@link OptionChecks} refuses: one line naming the problem and where the help is, exit 2.
   */
  private static int parseError(CommandLine.ParameterException ex, String[] args) {
    CommandLine c = ex.getCommandLine();
    String msg = oneLine(ex.getMessage());
    if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
      msg += " (did you mean " + String.join(" or ", u.getSuggestions()) + "?)";
    }
    c.getErr().println("fuselm: " + msg + " (see " + c.getCommandSpec().qualifiedName()
        + " --help)");
    if (Boolean.getBoolean("fuselm.debug")) {
      ex.printStackTrace(c.getErr());
    }
    return EXIT_USER_ERROR;
  }

  private static boolean isUserError(Exception ex) {
    return ex instanceof UserInputException
        || ex instanceof IllegalArgumentException
        || ex instanceof IOException
        || ex instanceof UncheckedIOException
        || ex instanceof NativeMemoryException;
  }

  /**
   * The message of a user error; the JDK's file-system exceptions carry only the path (or the
   * path and the OS's words), so they get fuselm's wording.
   */
  static String message(Exception ex) {
    Throwable t = ex instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : ex;
    if (t instanceof FileSystemException f && f.getFile() != null) {
      String file = f.getFile();
      if (f.getReason() != null && !(t instanceof FileAlreadyExistsException)) {
        return file + ": " + f.getReason();
      }
      if (t instanceof NoSuchFileException) {
        return file + ": no such file or directory";
      }
      if (t instanceof FileAlreadyExistsException) {
        return Files.isDirectory(Path.of(file)) ? file + ": already exists"
            : file + ": is a file, not a directory";
      }
      if (t instanceof NotDirectoryException) {
        return file + ": is a file, not a directory";
      }
      if (t instanceof AccessDeniedException) {
        return file + ": permission denied";
      }
      if (t instanceof DirectoryNotEmptyException) {
        return file + ": directory not empty";
      }
    }
    String m = t.getMessage();
    return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
  }

  /** Several lines (picocli, some JDK messages) as one. */
  private static String oneLine(String s) {
    return s == null ? "" : s.strip().replaceAll("\\s*\\R\\s*", "; ");
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      if (v == null) {
        v = buildVersion();
      }
      return new String[] {"fuselm " + (v == null ? "(development build)" : v)};
    }

    /** The version Maven wrote into dev/fuselm/version.properties (a filtered resource). */
    static String buildVersion() {
      try (var in = Main.class.getResourceAsStream("/dev/fuselm/version.properties")) {
        if (in == null) {
          return null;
        }
        java.util.Properties p = new java.util.Properties();
        p.load(in);
        String v = p.getProperty("version");
        return v == null || v.isBlank() || v.startsWith("${") ? null : v;
      } catch (IOException e) {
        return null;
      }
    }
  }
}
