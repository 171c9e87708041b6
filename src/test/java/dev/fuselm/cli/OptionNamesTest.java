package dev.fuselm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * The same thing is spelled the same way in every command, and the spellings commands had before
 * (kept as aliases) still parse to the same options.
 */
class OptionNamesTest {
  /** Spellings of one thing: an option with any of them must have all of them. */
  static final List<List<String>> SYNONYMS = List.of(
      List.of("--out", "--output"),
      List.of("--batch", "--batch-size"),
      List.of("--ctx", "--seq-len"),
      List.of("--val-fraction", "--val-ratio"),
      List.of("--new-tokens", "--max-new-tokens"));

  static List<CommandLine> allCommands(CommandLine c, List<CommandLine> out) {
    out.add(c);
    for (CommandLine sub : c.getSubcommands().values()) {
      if (!out.contains(sub)) {
        allCommands(sub, out);
      }
    }
    return out;
  }

  @Test
  void everyCommandSpellsTheSameThingTheSameWay() {
    List<String> bad = new ArrayList<>();
    List<CommandLine> all = allCommands(new CommandLine(new Main()), new ArrayList<>());
    assertTrue(all.size() > 25, "found only " + all.size() + " commands");
    for (CommandLine c : all) {
      for (OptionSpec o : c.getCommandSpec().options()) {
        List<String> names = Arrays.asList(o.names());
        for (List<String> group : SYNONYMS) {
          if (group.stream().anyMatch(names::contains) && !names.containsAll(group)
              && !(group.get(0).equals("--new-tokens") && !names.contains("--new-tokens"))) {
            bad.add(c.getCommandSpec().qualifiedName() + " " + names + " lacks some of " + group);
          }
        }
      }
    }
    assertEquals(List.of(), bad);
  }

  /** Each matched option of the innermost command, by its longest name, with its value. */
  static Map<String, String> parsed(String... args) {
    ParseResult r = new CommandLine(new Main()).parseArgs(args);
    while (r.hasSubcommand()) {
      r = r.subcommand();
    }
    Map<String, String> out = new TreeMap<>();
    for (OptionSpec o : r.matchedOptions()) {
      out.put(o.longestName(), String.valueOf(o.stringValues()));
    }
    return out;
  }

  static void sameParse(String oldLine, String newLine) {
    Map<String, String> a = parsed(oldLine.split(" "));
    Map<String, String> b = parsed(newLine.split(" "));
    assertTrue(a.size() >= 3, oldLine + " parsed to " + a);
    assertEquals(a, b, oldLine + " vs " + newLine);
  }

  @Test
  void oldSpellingsStillParse() {
    sameParse("bpe-train --input t.txt --vocab-size 300 --output tok",
        "bpe-train --data t.txt --vocab-size 300 --out tok");
    sameParse("train --data t.txt --out m --steps 5 --batch 2 --ctx 32 --val-fraction 0.1",
        "train --data t.txt --output m --steps 5 --batch-size 2 --seq-len 32 --val-ratio 0.1");
    sameParse("train-mlm --data t.txt --out m --steps 5 --batch 2 --seq-len 32 --init b",
        "train-mlm --data t.txt --output m --steps 5 --batch-size 2 --ctx 32 --model b");
    sameParse("finetune-classify --init m --data d.tsv --text-column 1 --label-column 0 --out c"
            + " --batch 8 --val-ratio 0.2",
        "finetune-classify --model m --data d.tsv --text-column 1 --label-column 0 --output c"
            + " --batch-size 8 --val-fraction 0.2");
    sameParse("finetune-ner --init m --train a --val b --test c --out o --batch-size 4",
        "finetune-ner --model m --train a --val b --test c --output o --batch 4");
    sameParse("eval --model m --data d.txt --ctx 16 --batch 2",
        "eval --model m --data d.txt --seq-len 16 --batch-size 2");
    sameParse("demo --out d --text t.txt --batch 4 --ctx 32",
        "demo --output d --data t.txt --batch-size 4 --seq-len 32");
    sameParse("bench serve --config gpt2 --new-tokens 8 --clients 1",
        "bench serve --config gpt2 --max-new-tokens 8 --clients 1");
    sameParse("bench embed --seq 64 --batch 8 --steps 2",
        "bench embed --ctx 64 --batch-size 8 --steps 2");
  }

  @Test
  void aliasesNameTheSameOption() {
    CommandLine bpe = new CommandLine(new Main()).getSubcommands().get("bpe-train");
    assertNotNull(bpe);
    assertSame(bpe.getCommandSpec().findOption("--output"),
        bpe.getCommandSpec().findOption("--out"));
  }
}
