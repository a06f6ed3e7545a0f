/** Config text shared by the routing tests (in-process and through the CLI). */

// A file lake on a share off site: the real file-lake output, declared off premises by its config
export const offsiteConfig = (rule: string) =>
  [
    'outputs:',
    '  lake: { type: file-lake }',
    '  offsite: { type: file-lake, premises: off, path: /mnt/partner-share/lake }',
    'routing:',
    '  rules:',
    `    - ${rule}`,
    '',
  ].join('\n');
