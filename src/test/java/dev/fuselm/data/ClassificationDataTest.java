package dev.fuselm.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ClassificationDataTest {
  @Test
  void smsStyleTsvByIndexKeepsTabsInTheLastColumn() throws IOException {
    String content = "ham\tGo until jurong point\r\nspam\tWIN a prize\tnow!\n\nham\tOk lar...\n";
    ClassificationData d = ClassificationData.parse("SMSSpamCollection", content, "1", "0");
    assertEquals(List.of("ham", "spam"), d.labels());
    assertEquals(3, d.examples().size());
    assertEquals("Go until jurong point", d.examples().get(0).text());
    assertEquals("WIN a prize\tnow!", d.examples().get(1).text());
    assertEquals(4, d.examples().get(2).line());
    assertEquals(Map.of("ham", 2, "spam", 1), d.counts());
  }

  @Test
  void csvWithHeaderByName() throws IOException {
    String content = "id,label,text\n1,pos,good film, really\n2,neg,bad\n";
    ClassificationData d = ClassificationData.parse("x.csv", content, "text", "label");
    assertEquals("good film, really", d.examples().get(0).text());
    assertEquals("neg", d.examples().get(1).label());
  }

  @Test
  void errorsNameTheProblem() {
    IOException e = assertThrows(IOException.class,
        () -> ClassificationData.parse("f.tsv", "a\tx\n\ty\n", "1", "0"));
    assertTrue(e.getMessage().contains("f.tsv:2") && e.getMessage().contains("label is missing"),
        e.getMessage());
    e = assertThrows(IOException.class,
        () -> ClassificationData.parse("f.tsv", "a\tx\nb\n", "1", "0"));
    assertTrue(e.getMessage().contains("f.tsv:2") && e.getMessage().contains("column"),
        e.getMessage());
    e = assertThrows(IOException.class, () -> ClassificationData.parse("f.tsv", "\n\n", "1", "0"));
    assertTrue(e.getMessage().contains("empty"), e.getMessage());
    e = assertThrows(IOException.class,
        () -> ClassificationData.parse("f.csv", "label,text\n", "text", "label"));
    assertTrue(e.getMessage().contains("no rows"), e.getMessage());
    e = assertThrows(IOException.class,
        () -> ClassificationData.parse("f.csv", "label,text\na,b\n", "body", "label"));
    assertTrue(e.getMessage().contains("no column 'body'"), e.getMessage());
    e = assertThrows(IOException.class,
        () -> ClassificationData.parse("f.tsv", "a\tx\na\ty\n", "1", "0"));
    assertTrue(e.getMessage().contains("only one label"), e.getMessage());
    e = assertThrows(IOException.class,
        () -> ClassificationData.parse("f.tsv", "a\t \nb\ty\n", "1", "0"));
    assertTrue(e.getMessage().contains("text is empty"), e.getMessage());
    e = assertThrows(IOException.class,
        () -> ClassificationData.parse("f.tsv", "a\tx\n", "0", "0"));
    assertTrue(e.getMessage().contains("same column"), e.getMessage());
  }

  @Test
  void balancingAndSplitAreSeededAndDisjoint() throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 90; i++) {
      sb.append(i % 10 == 0 ? "spam" : "ham").append("\ttext ").append(i).append('\n');
    }
    ClassificationData d = ClassificationData.parse("f", sb.toString(), "1", "0");
    ClassificationData b = d.balanced(7);
    assertEquals(Map.of("ham", 9, "spam", 9), b.counts());
    assertEquals(b.examples(), d.balanced(7).examples());
    ClassificationData.Split s = d.split(0.1, 0.2, 3);
    assertEquals(63, s.train().size());
    assertEquals(9, s.validation().size());
    assertEquals(18, s.test().size());
    assertEquals(s, d.split(0.1, 0.2, 3));
    Set<Integer> lines = new HashSet<>();
    for (List<ClassificationData.Example> part : List.of(s.train(), s.validation(), s.test())) {
      part.forEach(x -> assertTrue(lines.add(x.line())));
    }
    assertEquals(90, lines.size());
    assertThrows(IllegalArgumentException.class, () -> d.split(0.5, 0.5, 1));
    assertThrows(IllegalArgumentException.class,
        () -> ClassificationData.parse("f", "a\tx\nb\ty\n", "1", "0").split(0.1, 0.2, 1));
  }
}
