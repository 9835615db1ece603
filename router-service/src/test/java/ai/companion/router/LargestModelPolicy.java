package ai.companion.router;

import ai.companion.api.ModelInfo;
import ai.companion.api.spi.Intent;
import ai.companion.api.spi.RoutePlan;
import ai.companion.api.spi.RoutingPolicy;
import ai.companion.api.spi.StageContext;
import io.vertx.core.Future;
import java.util.Comparator;
import java.util.List;

/**
 * A plugin policy for the plugin test: always the largest model. It is deliberately not listed in the test
 * class path's META-INF/services; the test puts it into a jar under DATA_DIR/plugins.
 */
public class LargestModelPolicy implements RoutingPolicy {
  @Override
  public String name() {
    return "largest-model-plugin";
  }

  @Override
  public int priority() {
    return 10;
  }

  @Override
  public Future<RoutePlan> decide(Intent intent, StageContext ctx) {
    ModelInfo m = ctx.models().stream().max(Comparator.comparingLong(ModelInfo::parameters)).orElseThrow();
    return Future.succeededFuture(new RoutePlan(m.id(), "direct", null, List.of("plugin: always the largest"), null));
  }
}
