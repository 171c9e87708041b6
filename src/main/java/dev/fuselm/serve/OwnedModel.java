package dev.fuselm.serve;

import dev.fuselm.model.GptModel;
import dev.fuselm.tensor.ComputeContext;
import java.io.IOException;

/**
 * A model loaded on a context of its own, handed to the object that will own both: if loading or
 * wrapping fails, the model and the context are closed before the failure goes on, so a bad file
 * leaves no native memory behind.
 */
final class OwnedModel {
  private OwnedModel() {}

  interface Loader {
    GptModel load(ComputeContext ctx) throws IOException;
  }

  interface Owner<T> {
    T own(ComputeContext ctx, GptModel model) throws IOException;
  }

  static <T> T open(Loader loader, Owner<T> owner) throws IOException {
    ComputeContext ctx = ComputeContext.create();
    GptModel model = null;
    try {
      model = loader.load(ctx);
      return owner.own(ctx, model);
    } catch (IOException | RuntimeException | Error e) {
      if (model != null) {
        model.close();
      }
      ctx.close();
      throw e;
    }
  }
}
