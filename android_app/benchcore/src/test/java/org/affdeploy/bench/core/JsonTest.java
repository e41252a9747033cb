package org.affdeploy.bench.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
  @Test
  public void stringsAreEscaped() {
    assertEquals("\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u2028\u00e9\"", Json.write("a\"b\\c\n\r\t\b\f\u0001\u2028\u00e9"));
  }

  @Test
  public void valuesKeepTheirShapeAndOrder() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("z", 1);
    map.put("a", 2.5);
    map.put("n", null);
    map.put("b", true);
    map.put("whole", 3.0);
    map.put("nan", Double.NaN);
    map.put("list", Arrays.asList("x", 7L));
    map.put("doubles", new double[] {0.1, 1e-7});
    map.put("longs", new long[] {1, 2});
    assertEquals(
        "{\"z\":1,\"a\":2.5,\"n\":null,\"b\":true,\"whole\":3.0,\"nan\":null,\"list\":[\"x\",7],"
            + "\"doubles\":[0.1,1.0E-7],\"longs\":[1,2]}",
        Json.write(map));
  }

  @Test
  public void parseReadsWhatWriteWrites() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("text", "tab\there \"quoted\" \\ \u00e9 \u0002");
    map.put("int", 42L);
    map.put("real", -0.125);
    map.put("exp", 1.5e-9);
    List<Object> list = new ArrayList<>();
    list.add(null);
    list.add(false);
    list.add(new LinkedHashMap<String, Object>());
    map.put("list", list);
    assertEquals(map, Json.parse(Json.write(map)));
    assertEquals(Arrays.asList(1L, "\u00e9/"), Json.parse(" [ 1 , \"\\u00e9\\/\" ] "));
  }

  @Test
  public void malformedInputIsRejectedWithItsOffset() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": }")).getMessage().contains("offset 6"));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("[1, 2"));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("{} x"));
    assertThrows(IllegalArgumentException.class, () -> Json.parse("\"a\nb\""));
    assertThrows(IllegalArgumentException.class, () -> Json.write(new Object()));
  }
}
