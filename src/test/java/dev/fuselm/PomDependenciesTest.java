package dev.fuselm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * What an application that depends on dev.fuselm:fuselm inherits: the library's own dependencies,
 * never the CLI's (picocli, the progress bar and its terminal library, the SLF4J binding). CI
 * checks the same on examples/consumer's resolved class path.
 */
class PomDependenciesTest {
  /** Dependencies a library user gets (compile or runtime scope, not optional). */
  private static final Set<String> INHERITED = Set.of(
      "org.bytedeco:javacpp", "com.fasterxml.jackson.core:jackson-databind",
      "com.google.protobuf:protobuf-java", "org.slf4j:slf4j-api",
      "org.eclipse.jetty:jetty-server", "io.micrometer:micrometer-registry-prometheus",
      "org.knowm.xchart:xchart");

  /** Only the command line uses these; they must be optional. */
  private static final Set<String> CLI_ONLY = Set.of(
      "info.picocli:picocli", "me.tongfei:progressbar", "org.slf4j:slf4j-jdk14");

  /** Packages of the CLI-only libraries, importable only from the CLI's packages. */
  private static final List<String> CLI_IMPORTS =
      List.of("picocli.", "me.tongfei.progressbar.", "org.jline.", "org.slf4j.jul.");

  @Test
  void libraryUsersInheritOnlyTheLibrarysDependencies() throws Exception {
    Element project = DocumentBuilderFactory.newInstance().newDocumentBuilder()
        .parse(Path.of("pom.xml").toFile()).getDocumentElement();
    Element deps = child(project, "dependencies");
    Set<String> inherited = new TreeSet<>();
    Set<String> optional = new TreeSet<>();
    NodeList list = deps.getElementsByTagName("dependency");
    for (int i = 0; i < list.getLength(); i++) {
      Element d = (Element) list.item(i);
      if (d.getParentNode() != deps) {
        continue;
      }
      String ga = text(d, "groupId") + ":" + text(d, "artifactId");
      String scope = text(d, "scope");
      if (scope.equals("test") || scope.equals("provided")) {
        continue;
      }
      if (text(d, "optional").equals("true")) {
        optional.add(ga);
      } else {
        inherited.add(ga);
      }
    }
    assertEquals(new TreeSet<>(INHERITED), inherited,
        "a dependency a library user would inherit was added or removed: make a CLI-only one"
            + " <optional>true</optional>, or update INHERITED and the README's Install section");
    assertTrue(optional.containsAll(CLI_ONLY), "not optional: " + CLI_ONLY + " vs " + optional);
  }

  @Test
  void onlyTheCommandLineImportsCliLibraries() throws IOException {
    Path root = Path.of("src/main/java/dev/fuselm");
    List<String> bad = new ArrayList<>();
    int scanned = 0;
    try (Stream<Path> files = Files.walk(root)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        String pkg = root.relativize(f).getName(0).toString();
        scanned++;
        if (pkg.equals("cli") || pkg.equals("bench")) {
          continue;
        }
        for (String line : Files.readAllLines(f)) {
          for (String p : CLI_IMPORTS) {
            if (line.startsWith("import " + p) || line.startsWith("import static " + p)) {
              bad.add(f + ": " + line);
            }
          }
        }
      }
    }
    assertTrue(scanned > 100, "scanned only " + scanned + " sources");
    assertEquals(List.of(), bad, "library code would fail without the CLI's optional libraries");
  }

  private static Element child(Element e, String name) {
    for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element c && c.getTagName().equals(name)) {
        return c;
      }
    }
    throw new AssertionError("pom.xml has no <" + name + "> under <" + e.getTagName() + ">");
  }

  private static String text(Element e, String name) {
    for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element c && c.getTagName().equals(name)) {
        return c.getTextContent().trim();
      }
    }
    return "";
  }
}
