package dev.fuselm.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fuselm.data.PromptTemplate;
import dev.fuselm.io.CheckpointDirectory;
import dev.fuselm.io.InstructionModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * Turns the messages of a chat request into the prompt text the model continues, with the
 * single-turn instruction template fuselm's instruction fine-tuning records
 * ({@code instruction.json}, see {@link InstructionModel#readTemplate}), Alpaca's by default.
 *
 * <p>Layout: the system (and developer) messages, joined by blank lines, then a blank line; each
 * earlier user turn as {@code template.prompt(user, "")} followed by the assistant's reply and a
 * blank line; the last user turn as {@code template.prompt(user, "")}, which the reply continues.
 * Consecutive user messages are joined by blank lines. A model directory whose
 * {@code tokenizer_config.json} carries a Hugging Face {@code chat_template} (Jinja) and no
 * instruction.json gets a template that refuses: no Jinja implementation for the JVM is available
 * to this build, and rendering the template differently would silently change the model's input.
 */
public final class ChatTemplate {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Set<String> MESSAGE_FIELDS = Set.of("role", "content", "name");

  private final PromptTemplate template;
  private final String description;
  private final String refusal;

  private ChatTemplate(PromptTemplate template, String description, String refusal) {
    this.template = template;
    this.description = description;
    this.refusal = refusal;
  }

  /** A chat template over an instruction template. */
  public static ChatTemplate of(PromptTemplate template, String description) {
    return new ChatTemplate(template, description, null);
  }

  /** Alpaca's template, for a model directory that records none. */
  public static ChatTemplate alpacaDefault() {
    return of(PromptTemplate.alpaca(), "Alpaca (the default)");
  }

  /** The template a model directory records (see the class comment). */
  public static ChatTemplate forModel(Path dir) throws IOException {
    if (dev.fuselm.io.GgufGpt2.isGguf(dir)) { // a GGUF file: its tokenizer.chat_template (Jinja)
      return dev.fuselm.io.GgufModel.chatTemplate(dir) == null ? alpacaDefault()
          : jinjaRefusal("this GGUF file's tokenizer.chat_template");
    }
    dir = CheckpointDirectory.resolve(dir); // a training output directory: its latest checkpoint
    if (Files.isRegularFile(dir.resolve(InstructionModel.META_FILE))) {
      JsonNode meta = JSON.readTree(dir.resolve(InstructionModel.META_FILE).toFile());
      return of(InstructionModel.readTemplate(dir), "the instruction template of "
          + InstructionModel.META_FILE + " (" + meta.path("template").asText() + ")");
    }
    Path tc = dir.resolve("tokenizer_config.json");
    if (Files.isRegularFile(tc)) {
      JsonNode n = JSON.readTree(tc.toFile());
      if (n != null && n.hasNonNull("chat_template")) {
        return jinjaRefusal("this model's tokenizer_config.json");
      }
    }
    return alpacaDefault();
  }

  private static ChatTemplate jinjaRefusal(String where) {
    return new ChatTemplate(null, "none (a Jinja chat_template, not supported)",
        where + " has a Hugging Face chat_template (Jinja), which"
            + " this server cannot render: format the conversation yourself and use"
            + " /v1/completions, or fine-tune the model with fuselm's instruction tuning so"
            + " that its directory records an instruction template");
  }

  /** Which template this is, for the server's banner. */
  public String description() {
    return description;
  }

  /** The prompt for a chat request's {@code messages}. */
  String render(JsonNode messages) throws ApiError {
    if (refusal != null) {
      throw new ApiError(400, "invalid_request_error", "messages", "chat_template_unsupported", 0,
          refusal);
    }
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw ApiError.invalid("messages", "messages must be a non-empty array of messages");
    }
    StringBuilder system = new StringBuilder();
    StringBuilder turns = new StringBuilder();
    StringBuilder user = null;
    for (int i = 0; i < messages.size(); i++) {
      JsonNode m = messages.get(i);
      String param = "messages[" + i + "]";
      if (!m.isObject()) {
        throw ApiError.invalid(param, param + " must be an object with role and content");
      }
      var names = m.fieldNames();
      while (names.hasNext()) {
        String f = names.next();
        if (!MESSAGE_FIELDS.contains(f) && !m.get(f).isNull()) {
          throw ApiError.unsupported(param + "." + f, "messages carry role, content and name");
        }
      }
      String role = m.path("role").asText("");
      String content = content(m.get("content"), param);
      switch (role) {
        case "system", "developer" -> {
          if (turns.length() > 0 || user != null) {
            throw ApiError.invalid(param, "system messages must come before the conversation");
          }
          system.append(system.length() > 0 ? "\n\n" : "").append(content);
        }
        case "user" -> user = user == null ? new StringBuilder(content)
            : user.append("\n\n").append(content);
        case "assistant" -> {
          if (user == null) {
            throw ApiError.invalid(param, "an assistant message must follow a user message");
          }
          turns.append(template.prompt(user.toString(), "")).append(content).append("\n\n");
          user = null;
        }
        default -> throw ApiError.invalid(param + ".role", "role must be system, developer, user"
            + " or assistant, got '" + role + "'");
      }
    }
    if (user == null) {
      throw ApiError.invalid("messages", "the last message must be a user message");
    }
    return (system.length() > 0 ? system + "\n\n" : "") + turns
        + template.prompt(user.toString(), "");
  }

  /** A string, or an array of text parts. */
  private static String content(JsonNode c, String param) throws ApiError {
    if (c != null && c.isTextual()) {
      return c.asText();
    }
    if (c != null && c.isArray()) {
      StringBuilder sb = new StringBuilder();
      for (JsonNode part : c) {
        if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
          throw ApiError.unsupported(param + ".content",
              "only text parts, {\"type\": \"text\", \"text\": ...}");
        }
        sb.append(part.get("text").asText());
      }
      return sb.toString();
    }
    throw ApiError.invalid(param + ".content", "content must be a string or an array of text"
        + " parts");
  }
}
