package dev.fuselm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The one-process group and the detection of a distributed launch. The collectives themselves run
 * over real processes in native/tests/dist (ctest, 2 ranks) and benchmarks/dist/check.sh (2 JVMs).
 */
class ProcessGroupTest {
  @Test
  void singleIsRankZeroOfOneAndDoesNothing() {
    ProcessGroup g = ProcessGroup.single();
    assertEquals(0, g.rank());
    assertEquals(1, g.size());
    assertTrue(g.isLeader());
    assertEquals(1.5f, g.allReduceMean(1.5f));
    assertTrue(Float.isNaN(g.allReduceMean(Float.NaN)));
    assertEquals("", g.libraryVersion());
    g.barrier();
    g.close();
    assertThrows(IllegalArgumentException.class, () -> g.broadcast(null, 1));
  }

  @Test
  void launchersAndTheSwitchAskForAGroup() {
    assertFalse(ProcessGroup.requested(false, Map.of()));
    assertFalse(ProcessGroup.requested(false, Map.of("PATH", "/usr/bin")));
    assertTrue(ProcessGroup.requested(true, Map.of()));
    assertTrue(ProcessGroup.requested(false, Map.of("OMPI_COMM_WORLD_SIZE", "2")));
    assertTrue(ProcessGroup.requested(false, Map.of("PMI_SIZE", "4")));
    assertTrue(ProcessGroup.requested(false, Map.of("PMIX_RANK", "0")));
    assertTrue(ProcessGroup.requested(false, Map.of("FUSELM_DIST", "1")));
    assertTrue(ProcessGroup.requested(false, Map.of("FUSELM_DIST", "true")));
    // FUSELM_DIST=0 keeps a process started by a launcher single (the flag still forces it)
    assertFalse(ProcessGroup.requested(false, Map.of("FUSELM_DIST", "0",
        "OMPI_COMM_WORLD_SIZE", "2")));
    assertTrue(ProcessGroup.requested(true, Map.of("FUSELM_DIST", "0")));
  }

  @Test
  void hungRankTimeoutComesFromTheEnvironment() {
    assertEquals(ProcessGroup.DEFAULT_TIMEOUT_SECONDS, ProcessGroup.timeoutSeconds(null));
    assertEquals(ProcessGroup.DEFAULT_TIMEOUT_SECONDS, ProcessGroup.timeoutSeconds(" "));
    assertEquals(30, ProcessGroup.timeoutSeconds("30"));
    assertEquals(0, ProcessGroup.timeoutSeconds("0"));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> ProcessGroup.timeoutSeconds("-1"));
    assertTrue(e.getMessage().startsWith("FUSELM_DIST_TIMEOUT=-1"), e.getMessage());
    assertThrows(IllegalStateException.class, () -> ProcessGroup.timeoutSeconds("2m"));
  }
}
