/** Whether a media query matches now, followed as it changes (a phone turned, a window resized). */
import { useEffect, useState } from 'preact/hooks';

export function useMediaQuery(query: string): boolean {
  const [matches, setMatches] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const q = window.matchMedia(query);
    const follow = (e: MediaQueryListEvent): void => setMatches(e.matches);
    setMatches(q.matches);
    q.addEventListener('change', follow);
    return () => q.removeEventListener('change', follow);
  }, [query]);
  return matches;
}
