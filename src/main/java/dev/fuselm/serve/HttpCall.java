package dev.fuselm.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP exchange on Jetty, with a body already read: blocking response writes for the worker
 * threads, and the Jetty callback completed exactly once ({@link #complete}).
 */
final class HttpCall {
  private static final Logger LOG = LoggerFactory.getLogger(HttpCall.class);
  static final ObjectMapper JSON = new ObjectMapper();

  private final Request request;
  private final Response response;
  private final Callback callback;
  private final byte[] body;
  private final AtomicBoolean completed = new AtomicBoolean();
  private OutputStream out;
  private boolean closed;
  private volatile int status; // 0: no response (yet), or the client went away

  HttpCall(Request request, Response response, Callback callback, byte[] body) {
    this.request = request;
    this.response = response;
    this.callback = callback;
    this.body = body;
  }

  String method() {
    return request.getMethod();
  }

  String path() {
    return Request.getPathInContext(request);
  }

  String header(String name) {
    return request.getHeaders().get(name);
  }

  byte[] body() {
    return body;
  }

  /** Whether a response has started (then no error status can be sent any more). */
  boolean responseStarted() {
    return out != null;
  }

  void sendJson(int status, JsonNode n) throws IOException {
    send(status, "application/json", JSON.writeValueAsBytes(n));
  }

  void send(int status, String contentType, byte[] b) throws IOException {
    this.status = status;
    response.setStatus(status);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
    response.getHeaders().put(HttpHeader.CONTENT_LENGTH, b.length);
    if (status == 408 || status == 413) {
      // the body was not read to its end: tell the client not to reuse this connection
      response.getHeaders().put(HttpHeader.CONNECTION, "close");
    }
    OutputStream o = open();
    o.write(b);
    closeOut();
  }

  /** Sends the error; a failure to send is logged, not thrown (the client went away). */
  void sendError(ApiError e) {
    if (responseStarted()) {
      return;
    }
    if (e.retryAfterSeconds > 0) {
      response.getHeaders().put(HttpHeader.RETRY_AFTER, e.retryAfterSeconds);
    }
    if (e.status == 401) {
      response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
    }
    try {
      sendJson(e.status, e.json());
    } catch (IOException io) {
      LOG.debug("could not send the error response: {}", io.toString());
    }
  }

  /** Starts a server-sent event stream: status 200, then {@link #event} and {@link #done}. */
  void startEvents() throws IOException {
    status = 200;
    response.setStatus(200);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
    response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
    open().flush();
  }

  void event(JsonNode n) throws IOException {
    out.write(("data: " + JSON.writeValueAsString(n) + "\n\n").getBytes(StandardCharsets.UTF_8));
    out.flush();
  }

  void done() throws IOException {
    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
    closeOut();
  }

  private void closeOut() throws IOException {
    if (!closed) {
      closed = true;
      out.close();
    }
  }

  private OutputStream open() {
    if (out == null) {
      out = Content.Sink.asOutputStream(response);
    }
    return out;
  }

  /** The status sent; 0 when none was, or the client went away. */
  int status() {
    return status;
  }

  void markCancelled() {
    status = 0;
  }

  /** Ends the exchange: the last write (when a stream is open) and Jetty's callback. */
  void complete() {
    if (!completed.compareAndSet(false, true)) {
      return;
    }
    try {
      if (out != null) {
        closeOut();
      }
      callback.succeeded();
    } catch (IOException | RuntimeException e) {
      callback.failed(e);
    }
  }

  /** Ends the exchange and drops the connection (a client that broke the protocol or timed out). */
  void abort(Throwable why) {
    if (completed.compareAndSet(false, true)) {
      callback.failed(why);
    }
  }
}
