package dev.fuselm.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The limit on native memory: sizes are checked before fl_malloc, overflowing sizes never wrap,
 * and the error says how many bytes were asked for and what for.
 */
class NativeMemoryTest {
  @AfterEach
  void clearLimit() {
    System.clearProperty(NativeMemory.LIMIT_PROPERTY);
  }

  /** Sets the limit to what is allocated now plus extra bytes. */
  private static void limitTo(long extra) {
    System.setProperty(NativeMemory.LIMIT_PROPERTY,
        Long.toString(NativeBuffer.liveBytes(Backend.CPU) + extra));
  }

  @Test
  void formatsBytesAsPeopleReadThem() {
    assertEquals("512 bytes", NativeMemory.format(512));
    assertEquals("128.0 GB", NativeMemory.format(128_000_232_960L));
    assertEquals("4.2 MB", NativeMemory.format(4L << 20));
    assertEquals("more than 9.2 EB (the size overflows 64 bits)",
        NativeMemory.format(Long.MAX_VALUE));
  }

  @Test
  void parsesTheLimitProperty() {
    assertEquals(68_719_476_736L, NativeMemory.parseBytes("64g"));
    assertEquals(512L << 20, NativeMemory.parseBytes(" 512M "));
    assertEquals(123, NativeMemory.parseBytes("123"));
    for (String bad : new String[] {"", "abc", "-1", "1.5g", "99999999999t"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> NativeMemory.parseBytes(bad), bad);
      assertTrue(e.getMessage().contains("fuselm.maxNativeBytes"), e.getMessage());
    }
  }

  @Test
  void theDefaultLimitIsThePhysicalMemory() {
    long m = NativeMemory.limit(Backend.CPU);
    assertTrue(m > (64L << 20), "physical memory " + m);
    assertEquals(NativeMemory.physicalMemory(), m);
  }

  @Test
  void aTensorOverTheLimitIsRefusedBeforeAllocating() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU)) {
      limitTo(1 << 20);
      long live = NativeBuffer.liveBytes();
      NativeMemoryException e = assertThrows(NativeMemoryException.class,
          () -> Tensor.zeros(ctx, 1 << 20));
      assertEquals(4L << 20, e.requestedBytes());
      assertTrue(e.getMessage().startsWith("cannot allocate 4.2 MB of native memory for a FLOAT32"
          + " tensor of shape [1048576]: more than the limit of "), e.getMessage());
      assertTrue(e.getMessage().contains("(-Dfuselm.maxNativeBytes="), e.getMessage());
      assertEquals(live, NativeBuffer.liveBytes());
      try (Tensor small = Tensor.zeros(ctx, 1000)) {
        assertEquals(1000, small.numel());
      }
    }
  }

  @Test
  void whatIsAlreadyAllocatedCounts() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU)) {
      limitTo(3 << 20);
      try (Tensor a = Tensor.zeros(ctx, 1 << 19)) { // 2 MiB of the 3
        NativeMemoryException e = assertThrows(NativeMemoryException.class,
            () -> Tensor.zeros(ctx, 1 << 19));
        assertTrue(e.getMessage().contains("already allocated"), e.getMessage());
      }
      Tensor.zeros(ctx, 1 << 19).close(); // fits again once a is freed
    }
  }

  @Test
  void arenaScratchAndSlabsSayWhatTheMemoryIsFor() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU);
        Arena arena = new Arena(ctx, 64)) {
      limitTo(1 << 20);
      NativeMemoryException e = assertThrows(NativeMemoryException.class,
          () -> arena.floats(4, 1024, 1024));
      assertTrue(e.getMessage().contains("scratch memory for a FLOAT32 tensor of shape"
          + " [4, 1024, 1024]"), e.getMessage());
      arena.floats(16); // the arena is still usable
      ParameterSlab.Builder b = ParameterSlab.builder().add("w", true, 1024, 1024);
      NativeMemoryException s = assertThrows(NativeMemoryException.class, () -> b.build(ctx));
      assertTrue(s.getMessage().contains("a slab of 1048576 float32 parameters"), s.getMessage());
    }
  }

  @Test
  void sizesThatOverflowNeverWrap() {
    try (ComputeContext ctx = ComputeContext.create(Backend.CPU);
        Arena arena = new Arena(ctx, 64)) {
      NativeMemoryException e = assertThrows(NativeMemoryException.class,
          () -> Tensor.zeros(ctx, 1L << 40, 1L << 22));
      assertEquals(Long.MAX_VALUE, e.requestedBytes());
      assertThrows(NativeMemoryException.class, () -> arena.floats(1L << 61));
      assertThrows(ArithmeticException.class, () -> ParameterSlab.builder()
          .add("a", true, 1L << 62).add("b", true, 1L << 62));
    }
  }
}
