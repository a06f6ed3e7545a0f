/** Config schema of the `files` input (build files, CAD models, CT scans). Declared once here, validated at load with the whole config. */
import { z } from 'zod';
import { ACCESS_PATTERNS, SENSITIVITY_CLASSES, byteSize, dropFolderSettings, regexSetting, uploadRouteSetting } from '../../../gateway/plugin-api/index.js';

/** What a file is to the plant: a build (job) file, a CAD model, or a CT scan of a built part. */
export const FILE_TYPES = ['build-file', 'cad-model', 'ct-scan'] as const;
export type FileType = (typeof FILE_TYPES)[number];

/**
 * Which type a file is by its extension, unless its sidecar or upload header says otherwise (a `.3mf`
 * or `.stl` may be either a build file or a CAD model). `.zip` is a vendor job archive unless every
 * entry is a TIFF or DICOM slice (then a CT scan: a zipped slice stack). `.vol` and `.raw` are
 * vendor volume files and need a sidecar describing the volume.
 */
export const DEFAULT_EXTENSIONS: Readonly<Record<string, FileType>> = {
  '.3mf': 'build-file',
  '.cli': 'build-file',
  '.zip': 'build-file',
  '.json': 'build-file',
  '.stl': 'cad-model',
  '.step': 'cad-model',
  '.stp': 'cad-model',
  '.tif': 'ct-scan',
  '.tiff': 'ct-scan',
  '.dcm': 'ct-scan',
  '.vol': 'ct-scan',
  '.raw': 'ct-scan',
};

/** `B-0001_bracket.3mf`: the simulator's (and many MES') build ids as a file name prefix. */
export const DEFAULT_FILE_NAME_PATTERN = '^(?<build>B-[A-Za-z0-9-]+)_';

const typeSettings = (cls: (typeof SENSITIVITY_CLASSES)[number], pattern: (typeof ACCESS_PATTERNS)[number], what: string) =>
  z
    .strictObject({
      class: z
        .enum(SENSITIVITY_CLASSES)
        .default(cls)
        .meta({
          description: `class proposed for ${what} (classification may only raise it); confidential bodies are sealed at rest and never leave the premises`,
        }),
      accessPattern: z
        .enum(ACCESS_PATTERNS)
        .default(pattern)
        .meta({ description: `the access_pattern attribute of ${what}' records, for routing rules' accessPatterns` }),
    })
    .prefault({})
    .meta({ description: `class and access pattern of ${what}` });

export const filesConfigSchema = z.strictObject({
  dropDir: z.string().min(1).meta({
    description: 'the drop folder watched for new files (created if missing); processed/ and quarantine/ live inside it unless set otherwise',
  }),
  signal: z.string().min(1).default('files').meta({
    description: 'signal name of the file records; their metadata documents get `<signal>.meta`',
  }),
  fileNamePattern: regexSetting.default(DEFAULT_FILE_NAME_PATTERN).meta({
    description:
      'regular expression on the file name with an optional named group build; a sidecar <file>.json with `build` overrides it; what neither gives comes from the machine context',
  }),
  extensions: z
    .record(z.string().regex(/^\.[A-Za-z0-9]{1,16}$/, 'an extension with its dot, e.g. .3mf'), z.enum(FILE_TYPES))
    .default({})
    .meta({
      description:
        'file type by extension, merged over the defaults (.3mf .cli .zip .json: build-file; .stl .step .stp: cad-model; .tif .tiff .dcm .vol .raw: ct-scan); a sidecar `type` or the upload header x-layergate-file-type overrides it',
    }),
  types: z
    .strictObject({
      buildFile: typeSettings('confidential', 'archive', 'build files'),
      cadModel: typeSettings('confidential', 'archive', 'CAD models'),
      ctScan: typeSettings('sensitive', 'research', 'CT scans'),
    })
    .prefault({})
    .meta({ description: 'per file type: the class proposed and the access pattern' }),
  ...dropFolderSettings({ committed: 'its records are', stableFor: '2s', rescanInterval: '5s' }),
  maxFileBytes: byteSize().prefault('512MiB').meta({
    description: 'larger files are rejected (quarantined) before a byte is read; a file is held in memory while it is inspected and committed',
  }),
  quarantineRawMaxBytes: byteSize().prefault('1MiB').meta({
    description:
      'at most this many bytes of a rejected file are kept in the gateway quarantine record (none of a confidential type: the file itself is in quarantineDir)',
  }),
  concurrency: z.number().int().min(1).max(8).default(1).meta({ description: 'files inspected at the same time' }),
  archive: z
    .strictObject({
      maxEntries: z
        .number()
        .int()
        .min(1)
        .default(10_000)
        .meta({ description: 'a zip (3MF, job archive, slice stack) with more entries is rejected as zip-bomb' }),
      maxExpandedBytes: byteSize().prefault('1GiB').meta({
        description: 'a zip whose entries declare, or expand to, more bytes than this in all is rejected as zip-bomb',
      }),
      maxRatio: z.number().min(1).default(200).meta({
        description: 'an entry whose expanded size is more than this many times its compressed size is rejected as zip-bomb',
      }),
    })
    .prefault({})
    .meta({ description: 'limits on zip files (3MF, vendor archives, zipped slice stacks): against zip bombs' }),
  upload: uploadRouteSetting({ route: '/files', body: 'the file', maxConcurrent: 2, minBytesPerSecond: '64KiB', bodyGrace: '30s' }),
});

export type FilesConfig = z.infer<typeof filesConfigSchema>;
