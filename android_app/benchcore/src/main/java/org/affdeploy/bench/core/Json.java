package org.affdeploy.bench.core;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal JSON writer and reader, so the benchmark core needs no library that the Android SDK,
 * a plain JDK and the host tools would all have to agree on.
 *
 * <p>Writing accepts null, Boolean, Number, CharSequence, Map (string keys, insertion order kept),
 * Iterable and double/long/int arrays. Non-finite doubles become null because JSON has no NaN.
 * Reading returns LinkedHashMap, ArrayList, String, Long (integral numbers), Double, Boolean or null.
 */
public final class Json {
  private Json() {}

  /** Serialises {@code value} compactly; throws IllegalArgumentException for unsupported types. */
  public static String write(Object value) {
    StringBuilder out = new StringBuilder();
    writeValue(out, value);
    return out.toString();
  }

  private static void writeValue(StringBuilder out, Object value) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof Boolean) {
      out.append(value.toString());
    } else if (value instanceof Double || value instanceof Float) {
      writeDouble(out, ((Number) value).doubleValue());
    } else if (value instanceof Number) {
      out.append(((Number) value).longValue());
    } else if (value instanceof CharSequence) {
      writeString(out, value.toString());
    } else if (value instanceof Map) {
      writeMap(out, (Map<?, ?>) value);
    } else if (value instanceof Iterable) {
      writeIterable(out, ((Iterable<?>) value).iterator());
    } else if (value instanceof double[]) {
      List<Object> boxed = new ArrayList<>();
      for (double d : (double[]) value) {
        boxed.add(d);
      }
      writeIterable(out, boxed.iterator());
    } else if (value instanceof long[]) {
      List<Object> boxed = new ArrayList<>();
      for (long l : (long[]) value) {
        boxed.add(l);
      }
      writeIterable(out, boxed.iterator());
    } else {
      throw new IllegalArgumentException("cannot write " + value.getClass().getName() + " as JSON");
    }
  }

  private static void writeDouble(StringBuilder out, double d) {
    if (Double.isNaN(d) || Double.isInfinite(d)) {
      out.append("null");
    } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
      out.append((long) d).append(".0"); // keep it a float for readers that care about the type
    } else {
      out.append(Double.toString(d)); // shortest round-trip form, e.g. 1.2345E-5 is valid JSON
    }
  }

  private static void writeMap(StringBuilder out, Map<?, ?> map) {
    out.append('{');
    boolean first = true;
    for (Map.Entry<?, ?> entry : map.entrySet()) {
      if (!(entry.getKey() instanceof String)) {
        throw new IllegalArgumentException("JSON object keys must be strings, got " + entry.getKey());
      }
      if (!first) {
        out.append(',');
      }
      first = false;
      writeString(out, (String) entry.getKey());
      out.append(':');
      writeValue(out, entry.getValue());
    }
    out.append('}');
  }

  private static void writeIterable(StringBuilder out, Iterator<?> items) {
    out.append('[');
    boolean first = true;
    while (items.hasNext()) {
      if (!first) {
        out.append(',');
      }
      first = false;
      writeValue(out, items.next());
    }
    out.append(']');
  }

  /** Quotes a string, escaping what RFC 8259 requires plus U+2028/U+2029 for JavaScript readers. */
  static void writeString(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        default:
          if (c < 0x20 || c == '\u2028' || c == '\u2029') {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    out.append('"');
  }

  /** Parses one JSON document; throws IllegalArgumentException with the offset of the first error. */
  public static Object parse(String text) {
    Reader reader = new Reader(text);
    reader.skipSpace();
    Object value = reader.value();
    reader.skipSpace();
    if (reader.pos != text.length()) {
      throw reader.error("trailing characters");
    }
    return value;
  }

  /** A recursive-descent reader over the whole text. */
  private static final class Reader {
    private final String text;
    private int pos;

    Reader(String text) {
      this.text = text;
    }

    IllegalArgumentException error(String what) {
      return new IllegalArgumentException("invalid JSON at offset " + pos + ": " + what);
    }

    void skipSpace() {
      while (pos < text.length() && " \t\r\n".indexOf(text.charAt(pos)) >= 0) {
        pos++;
      }
    }

    char peek() {
      if (pos >= text.length()) {
        throw error("unexpected end of input");
      }
      return text.charAt(pos);
    }

    void expect(char c) {
      if (peek() != c) {
        throw error("expected '" + c + "'");
      }
      pos++;
    }

    Object value() {
      char c = peek();
      switch (c) {
        case '{':
          return object();
        case '[':
          return array();
        case '"':
          return string();
        case 't':
          return literal("true", Boolean.TRUE);
        case 'f':
          return literal("false", Boolean.FALSE);
        case 'n':
          return literal("null", null);
        default:
          return number();
      }
    }

    Object literal(String word, Object result) {
      if (!text.startsWith(word, pos)) {
        throw error("unexpected character '" + peek() + "'");
      }
      pos += word.length();
      return result;
    }

    Map<String, Object> object() {
      Map<String, Object> map = new LinkedHashMap<>();
      expect('{');
      sequence('}', () -> {
        String key = string();
        skipSpace();
        expect(':');
        skipSpace();
        map.put(key, value());
      });
      return map;
    }

    List<Object> array() {
      List<Object> list = new ArrayList<>();
      expect('[');
      sequence(']', () -> list.add(value()));
      return list;
    }

    /** Reads comma-separated items with {@code item} up to and including {@code close}. */
    void sequence(char close, Runnable item) {
      skipSpace();
      if (peek() == close) {
        pos++;
        return;
      }
      while (true) {
        skipSpace();
        item.run();
        skipSpace();
        if (peek() != ',') {
          expect(close);
          return;
        }
        pos++;
      }
    }

    String string() {
      expect('"');
      StringBuilder out = new StringBuilder();
      while (true) {
        char c = peek();
        pos++;
        if (c == '"') {
          return out.toString();
        }
        if (c < 0x20) {
          throw error("control character in string");
        }
        if (c != '\\') {
          out.append(c);
          continue;
        }
        char e = peek();
        pos++;
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out.append(e);
            break;
          case 'n':
            out.append('\n');
            break;
          case 'r':
            out.append('\r');
            break;
          case 't':
            out.append('\t');
            break;
          case 'b':
            out.append('\b');
            break;
          case 'f':
            out.append('\f');
            break;
          case 'u':
            if (pos + 4 > text.length()) {
              throw error("short \\u escape");
            }
            try {
              out.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
            } catch (NumberFormatException ex) {
              throw error("bad \\u escape");
            }
            pos += 4;
            break;
          default:
            throw error("bad escape '\\" + e + "'");
        }
      }
    }

    Object number() {
      int start = pos;
      while (pos < text.length() && "+-0123456789.eE".indexOf(text.charAt(pos)) >= 0) {
        pos++;
      }
      String token = text.substring(start, pos);
      if (token.isEmpty()) {
        throw error("unexpected character '" + peek() + "'");
      }
      try {
        if (token.indexOf('.') < 0 && token.indexOf('e') < 0 && token.indexOf('E') < 0) {
          return Long.parseLong(token);
        }
        return Double.parseDouble(token);
      } catch (NumberFormatException ex) {
        pos = start;
        throw error("bad number '" + token + "'");
      }
    }
  }
}
