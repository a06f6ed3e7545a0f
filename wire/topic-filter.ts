/**
 * MQTT topic-filter matching per MQTT 5.0 section 4.7 (the same rules in 3.1.1 section 4.7), on top
 * of mqtt-match, with the rules it lacks:
 * - a filter starting with a wildcard (`#` or `+`) never matches a topic starting with `$` (4.7.2:
 *   `$SYS/...` and other server topics are reached only by filters naming them);
 * - a shared subscription `$share/<ShareName>/<filter>` (4.8.2) matches what its filter matches; the
 *   share name is one non-empty level without wildcards;
 * - an invalid filter matches nothing (`#` not last or not a whole level, `+` not a whole level, an
 *   empty filter, a shared subscription without a filter).
 */
import mqttMatch from 'mqtt-match';

const SHARE_PREFIX = '$share/';

/** The filter a subscription matches by: `<filter>` of `$share/<ShareName>/<filter>`, else the filter itself; undefined when malformed. */
export function effectiveFilter(subscription: string): string | undefined {
  if (!subscription.startsWith(SHARE_PREFIX)) return subscription;
  const rest = subscription.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const shareName = rest.slice(0, slash);
  if (/[+#]/.test(shareName)) return undefined;
  const filter = rest.slice(slash + 1);
  return filter.length > 0 ? filter : undefined;
}

/** Whether `filter` is a valid topic filter (4.7.1): wildcards only as whole levels, `#` only last. Shared subscriptions by their filter. */
export function isValidTopicFilter(subscription: string): boolean {
  const filter = effectiveFilter(subscription);
  if (filter === undefined || filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level === '#') return i === levels.length - 1;
    if (level === '+') return true;
    return !level.includes('#') && !level.includes('+');
  });
}

/** Whether a message published to `topic` reaches a subscription with `filter` (plain or `$share/...`). */
export function topicMatches(filter: string, topic: string): boolean {
  if (!isValidTopicFilter(filter)) return false;
  const f = effectiveFilter(filter) as string;
  if (topic.startsWith('$') && (f.startsWith('#') || f.startsWith('+'))) return false;
  return mqttMatch(f, topic);
}
