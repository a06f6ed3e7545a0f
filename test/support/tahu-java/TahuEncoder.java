/*
 * Encodes Sparkplug B payloads with Eclipse Tahu's Java library (tahu-core, the reference
 * implementation), for the MQTT input's datatype tests: an encoder independent of LayerGate's.
 *
 * Protocol (stdin -> stdout, one line each): a JSON request
 *   {"timestamp": ms, "seq": n, "strip": bool, "metrics": [{"name"?: s, "alias"?: n, "datatype": code, "value": v}]}
 * is answered by the payload's bytes in base64, or by "ERR <message>". `strip` leaves the datatypes
 * out (as Tahu's edge nodes do in DATA messages). Values are given exactly: 64-bit integers as
 * decimal strings, a Float as its IEEE bits (int), a Double as its IEEE bits (decimal string of a
 * long), a DateTime as ms since the epoch (decimal string), Bytes as base64; arrays as JSON arrays.
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Date;

import org.eclipse.tahu.message.SparkplugBPayloadEncoder;
import org.eclipse.tahu.message.model.Metric.MetricBuilder;
import org.eclipse.tahu.message.model.MetricDataType;
import org.eclipse.tahu.message.model.SparkplugBPayload.SparkplugBPayloadBuilder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

public class TahuEncoder {
	public static void main(String[] args) throws Exception {
		ObjectMapper json = new ObjectMapper();
		SparkplugBPayloadEncoder encoder = new SparkplugBPayloadEncoder();
		PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
		for (String line = in.readLine(); line != null; line = in.readLine()) {
			try {
				JsonNode req = json.readTree(line);
				SparkplugBPayloadBuilder payload = new SparkplugBPayloadBuilder()
						.setTimestamp(new Date(req.get("timestamp").asLong()));
				if (req.has("seq")) payload.setSeq(req.get("seq").asLong());
				for (JsonNode m : req.get("metrics")) {
					MetricDataType type = MetricDataType.fromInteger(m.get("datatype").asInt());
					MetricBuilder metric = m.has("name")
							? new MetricBuilder(m.get("name").asText(), type, value(type.toIntValue(), m.get("value")))
							: new MetricBuilder(m.get("alias").asLong(), type, value(type.toIntValue(), m.get("value")));
					if (m.has("name") && m.has("alias")) metric.alias(m.get("alias").asLong());
					payload.addMetric(metric.createMetric());
				}
				byte[] bytes = encoder.getBytes(payload.createPayload(), req.path("strip").asBoolean(false));
				out.println(Base64.getEncoder().encodeToString(bytes));
			} catch (Exception e) {
				out.println("ERR " + e.toString().replace('\n', ' '));
			}
		}
	}

	/** The Java value Tahu takes for a datatype (MetricDataType's classes), from its exact JSON form. */
	static Object value(int datatype, JsonNode v) {
		switch (datatype) {
			case 1: return (byte) v.asInt();
			case 2: return (short) v.asInt();
			case 3: return v.asInt();
			case 4: return Long.parseLong(v.asText());
			case 5: return (short) v.asInt();
			case 6: return v.asInt();
			case 7: return v.asLong();
			case 8: return new BigInteger(v.asText());
			case 9: return Float.intBitsToFloat(v.asInt());
			case 10: return Double.longBitsToDouble(Long.parseLong(v.asText()));
			case 11: return v.asBoolean();
			case 12: case 14: case 15: return v.asText();
			case 13: return new Date(Long.parseLong(v.asText()));
			case 17: return Base64.getDecoder().decode(v.asText());
			default: break;
		}
		int n = v.size();
		switch (datatype) {
			case 22: { Byte[] a = new Byte[n]; for (int i = 0; i < n; i++) a[i] = (Byte) value(1, v.get(i)); return a; }
			case 23: { Short[] a = new Short[n]; for (int i = 0; i < n; i++) a[i] = (Short) value(2, v.get(i)); return a; }
			case 24: { Integer[] a = new Integer[n]; for (int i = 0; i < n; i++) a[i] = (Integer) value(3, v.get(i)); return a; }
			case 25: { Long[] a = new Long[n]; for (int i = 0; i < n; i++) a[i] = (Long) value(4, v.get(i)); return a; }
			case 26: { Short[] a = new Short[n]; for (int i = 0; i < n; i++) a[i] = (Short) value(5, v.get(i)); return a; }
			case 27: { Integer[] a = new Integer[n]; for (int i = 0; i < n; i++) a[i] = (Integer) value(6, v.get(i)); return a; }
			case 28: { Long[] a = new Long[n]; for (int i = 0; i < n; i++) a[i] = (Long) value(7, v.get(i)); return a; }
			case 29: { BigInteger[] a = new BigInteger[n]; for (int i = 0; i < n; i++) a[i] = (BigInteger) value(8, v.get(i)); return a; }
			case 30: { Float[] a = new Float[n]; for (int i = 0; i < n; i++) a[i] = (Float) value(9, v.get(i)); return a; }
			case 31: { Double[] a = new Double[n]; for (int i = 0; i < n; i++) a[i] = (Double) value(10, v.get(i)); return a; }
			case 32: { Boolean[] a = new Boolean[n]; for (int i = 0; i < n; i++) a[i] = v.get(i).asBoolean(); return a; }
			case 33: { String[] a = new String[n]; for (int i = 0; i < n; i++) a[i] = v.get(i).asText(); return a; }
			case 34: { Date[] a = new Date[n]; for (int i = 0; i < n; i++) a[i] = (Date) value(13, v.get(i)); return a; }
			default: throw new IllegalArgumentException("datatype " + datatype + " is not encoded by this tool");
		}
	}
}
