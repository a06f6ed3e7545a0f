/** Config schema of the `frames` input (powder-bed camera images). Declared once here, validated at load with the whole config. */
import { z } from 'zod';
import { byteSize, dropFolderSettings, regexSetting, uploadRouteSetting } from '../../../gateway/plugin-api/index.js';

/**
 * The simulator's (and many cameras') naming: `<build>_L<layer>_<phase>.<ext>`, e.g.
 * `B-0001_L00010_after-exposure.png`. Named groups `build`, `layer`, `phase` are all optional.
 */
export const DEFAULT_FILE_NAME_PATTERN = '^(?<build>.+)_L(?<layer>\\d+)_(?<phase>after-recoat|after-exposure)\\.[A-Za-z0-9]+$';

export const framesConfigSchema = z.strictObject({
  dropDir: z
    .string()
    .min(1)
    .meta({ description: 'the drop folder watched for new images (created if missing); processed/ and quarantine/ live inside it unless set otherwise' }),
  signal: z.string().min(1).default('camera.powder_bed').meta({ description: 'signal name of the frame records (thumbnails get `<signal>.thumbnail`)' }),
  fileNamePattern: regexSetting.default(DEFAULT_FILE_NAME_PATTERN).meta({
    description:
      'regular expression on the file name with optional named groups build, layer, phase; a sidecar <name>.json with the same keys overrides it; what neither gives comes from the machine context',
  }),
  ...dropFolderSettings({ committed: 'its frame is', stableFor: '1s', rescanInterval: '2s' }),
  maxFileBytes: byteSize().prefault('256MiB').meta({ description: 'larger files are rejected (quarantined)' }),
  quarantineRawMaxBytes: byteSize()
    .prefault('1MiB')
    .meta({ description: 'at most this many bytes of a rejected file are kept in the gateway quarantine record' }),
  dedupWindow: z
    .number()
    .int()
    .min(0)
    .default(10_000)
    .meta({ description: 'how many recent content hashes are remembered; a file equal to one of them is released without being stored again (0 = no dedup)' }),
  concurrency: z.number().int().min(1).max(16).default(2).meta({ description: 'files decoded at the same time' }),
  thumbnail: z
    .strictObject({
      enabled: z.boolean().default(true).meta({ description: 'emit a thumbnail record with each frame' }),
      size: z.number().int().min(16).max(2048).default(256).meta({ description: 'longest side of the thumbnail, px' }),
    })
    .prefault({})
    .meta({ description: 'a small 8-bit PNG for the UI, emitted as a second record (attribute thumbnail_of = the original sha256)' }),
  reencode: z.enum(['off', 'png', 'webp']).default('off').meta({
    description: 'lossless re-encode (PNG, or WebP lossless for 8-bit images); used only when smaller and pixel-identical to the original',
  }),
  keep: z.enum(['original', 'reencoded-only']).default('original').meta({
    description:
      'original: the original bytes are always stored (a smaller re-encode is emitted as an extra record); reencoded-only: the re-encode replaces the original when it is smaller and pixel-identical',
  }),
  upload: uploadRouteSetting({ route: '/frames', body: 'the image', maxConcurrent: 4, minBytesPerSecond: '16KiB', bodyGrace: '10s' }),
});

export type FramesConfig = z.infer<typeof framesConfigSchema>;
