package ai.companion.sdk.impl;

import ai.companion.api.grpc.AssistantGrpcClient;
import ai.companion.api.grpc.ChatChunk;
import ai.companion.api.grpc.ChatRequest;
import ai.companion.sdk.AssistantException;
import io.vertx.core.Context;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcStatus;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One Chat call as a {@link Flow.Publisher}: the gRPC response stream is paused and fetched only as the
 * subscriber requests (so HTTP/2 flow control, and behind it the gateway and the worker, slow down with a slow
 * subscriber); cancel resets the call, which stops the generation on the node. Everything on one Vert.x context.
 */
final class ChatPublisher implements Flow.Publisher<String> {
  private final Context context;
  private final GrpcClient client;
  private final SocketAddress server;
  private final ChatRequest request;
  private final String apiKey;
  private final AtomicBoolean subscribed = new AtomicBoolean();

  ChatPublisher(Context context, GrpcClient client, SocketAddress server, ChatRequest request, String apiKey) {
    this.context = context;
    this.client = client;
    this.server = server;
    this.request = request;
    this.apiKey = apiKey;
  }

  @Override
  public void subscribe(Flow.Subscriber<? super String> subscriber) {
    if (!subscribed.compareAndSet(false, true)) {
      subscriber.onSubscribe(new Flow.Subscription() {
        @Override public void request(long n) { }
        @Override public void cancel() { }
      });
      subscriber.onError(new IllegalStateException("this publisher has a subscriber already; ask again"));
      return;
    }
    subscriber.onSubscribe(new Call(subscriber));
  }

  /** The subscription; its state is touched only on {@link #context}. */
  private final class Call implements Flow.Subscription {
    final Flow.Subscriber<? super String> subscriber;
    GrpcClientRequest<ChatRequest, ChatChunk> req;
    GrpcClientResponse<ChatRequest, ChatChunk> resp;
    long pending;
    boolean started;
    boolean done;

    Call(Flow.Subscriber<? super String> subscriber) {
      this.subscriber = subscriber;
    }

    @Override
    public void request(long n) {
      context.runOnContext(v -> {
        if (done) return;
        if (n <= 0) {
          cancel();
          terminate(new IllegalArgumentException("request(n) needs n > 0 (rule 3.9), got " + n));
          return;
        }
        if (resp != null) {
          resp.fetch(n);
        } else {
          pending = pending + n < 0 ? Long.MAX_VALUE : pending + n;
          if (!started) start();
        }
      });
    }

    @Override
    public void cancel() {
      context.runOnContext(v -> {
        if (done) return;
        done = true;
        if (req != null) req.cancel();
      });
    }

    private void start() {
      started = true;
      client.request(server, AssistantGrpcClient.Chat).onComplete(ar -> {
        if (ar.failed()) {
          terminate(new AssistantException("UNAVAILABLE", ar.cause().getMessage(), ar.cause()));
          return;
        }
        req = ar.result();
        if (done) {
          req.cancel();
          return;
        }
        GrpcAssistant.auth(req, apiKey);
        req.send(request).onComplete(sent -> {
          if (sent.failed()) {
            terminate(new AssistantException("UNAVAILABLE", sent.cause().getMessage(), sent.cause()));
            return;
          }
          resp = sent.result();
          resp.pause();
          resp.handler(chunk -> {
            if (done) return;
            if (chunk.getDelta().isEmpty()) {
              resp.fetch(1); // route or usage only: no text, so it uses none of the subscriber's demand
            } else {
              subscriber.onNext(chunk.getDelta());
            }
          });
          resp.exceptionHandler(err -> terminate(GrpcAssistant.failure(resp, err)));
          resp.endHandler(x -> {
            if (resp.status() != null && resp.status() != GrpcStatus.OK) {
              terminate(GrpcAssistant.failure(resp, null));
            } else if (!done) {
              done = true;
              subscriber.onComplete();
            }
          });
          resp.fetch(pending);
          pending = 0;
        });
      });
    }

    private void terminate(Throwable err) {
      if (done) return;
      done = true;
      subscriber.onError(err);
    }
  }
}
