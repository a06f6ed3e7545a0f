/**
 * MQTT topic-filter matching against the examples of MQTT 5.0 section 4.7 (wildcards, `$` topics)
 * and 4.8.2 (shared subscriptions).
 */
import { describe, expect, it } from 'vitest';
import { effectiveFilter, isValidTopicFilter, topicMatches } from './topic-filter.js';

describe('topicMatches', () => {
  it('multi-level wildcard (4.7.1.2): matches the parent and any number of child levels', () => {
    for (const topic of ['sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon']) {
      expect(topicMatches('sport/tennis/player1/#', topic)).toBe(true);
    }
    expect(topicMatches('sport/#', 'sport')).toBe(true);
    expect(topicMatches('#', 'sport/tennis/player1')).toBe(true);
    expect(topicMatches('sport/tennis/#', 'sport/tennis')).toBe(true);
    expect(topicMatches('sport/tennis/player1/#', 'sport/tennis/player2')).toBe(false);
  });

  it('single-level wildcard (4.7.1.3): exactly one level, which may be empty', () => {
    expect(topicMatches('sport/tennis/+', 'sport/tennis/player1')).toBe(true);
    expect(topicMatches('sport/tennis/+', 'sport/tennis/player2')).toBe(true);
    expect(topicMatches('sport/tennis/+', 'sport/tennis/player1/ranking')).toBe(false);
    expect(topicMatches('sport/+', 'sport')).toBe(false);
    expect(topicMatches('sport/+', 'sport/')).toBe(true);
    expect(topicMatches('+/+', '/finance')).toBe(true);
    expect(topicMatches('/+', '/finance')).toBe(true);
    expect(topicMatches('+', '/finance')).toBe(false);
    expect(topicMatches('sport/+/player1', 'sport/tennis/player1')).toBe(true);
    expect(topicMatches('+/tennis/#', 'sport/tennis/player1/ranking')).toBe(true);
  });

  it('invalid filters (4.7.1.2, 4.7.1.3) match nothing', () => {
    for (const bad of ['sport/tennis#', 'sport/tennis/#/ranking', 'sport+', '', '$share/group', '$share//sport/#', '$share/gr+up/sport/#', '$share/group/']) {
      expect(isValidTopicFilter(bad)).toBe(false);
      expect(topicMatches(bad, 'sport/tennis/player1')).toBe(false);
      expect(topicMatches(bad, 'sport/tennis#')).toBe(false);
    }
    for (const good of ['#', 'sport/tennis/#', '+', '+/tennis/#', 'sport/+/player1', '/+', '+/+', '$SYS/#', '$share/consumer1/sport/tennis/+']) {
      expect(isValidTopicFilter(good)).toBe(true);
    }
  });

  it('topics starting with $ (4.7.2): never matched by a filter starting with a wildcard', () => {
    expect(topicMatches('#', '$SYS/monitor/Clients')).toBe(false);
    expect(topicMatches('+/monitor/Clients', '$SYS/monitor/Clients')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/monitor/Clients')).toBe(true);
    expect(topicMatches('$SYS/monitor/+', '$SYS/monitor/Clients')).toBe(true);
    // a `$` later in the topic is an ordinary character
    expect(topicMatches('#', 'machines/$state')).toBe(true);
    expect(topicMatches('+/+', 'machines/$state')).toBe(true);
  });

  it('shared subscriptions (4.8.2): match by the filter after the share name', () => {
    expect(effectiveFilter('$share/consumer1/sport/tennis/+')).toBe('sport/tennis/+');
    expect(effectiveFilter('$share/consumer1//finance')).toBe('/finance');
    expect(effectiveFilter('sport/#')).toBe('sport/#');
    expect(topicMatches('$share/consumer1/sport/tennis/+', 'sport/tennis/player1')).toBe(true);
    expect(topicMatches('$share/consumer2/sport/tennis/+', 'sport/tennis/player1/ranking')).toBe(false);
    expect(topicMatches('$share/consumer1//finance', '/finance')).toBe(true);
    expect(topicMatches('$share/consumer1/#', 'spBv1.0/LayerGate/NDATA/m1')).toBe(true);
    // the filter's own rules still hold: a shared `#` does not reach `$` topics
    expect(topicMatches('$share/consumer1/#', '$SYS/monitor/Clients')).toBe(false);
    expect(topicMatches('$share/consumer1/$SYS/#', '$SYS/monitor/Clients')).toBe(true);
    // the share name is not a topic level
    expect(topicMatches('$share/sport/tennis', 'sport/tennis')).toBe(false);
    expect(topicMatches('$share/sport/tennis', 'tennis')).toBe(true);
  });

  it('levels compare case-sensitively and exactly (4.7.3)', () => {
    expect(topicMatches('ACCOUNTS', 'Accounts')).toBe(false);
    expect(topicMatches('sport/tennis/player1', 'sport/tennis/player1')).toBe(true);
    expect(topicMatches('sport/tennis/player1', 'sport/tennis/player1/')).toBe(false);
    expect(topicMatches('/finance', 'finance')).toBe(false);
  });
});
