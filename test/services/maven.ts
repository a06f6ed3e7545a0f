/**
 * Jars from Maven Central for the servers the tests and benchmarks run on the JVM (Kafka, the Milo
 * OPC-UA bench server, the Tahu encoder): the runtime classpath of a generated minimal pom, copied
 * into `<home>/jars`; and the one-file Java programs the harness compiles against them.
 *
 * Design constraints:
 * - Maven's local repository lives in .services/cache/m2: nothing is written to ~/.m2.
 * - Resolved once per home folder: `<home>/.resolved` marks a complete classpath.
 * - The jars go to a folder of this process first and are renamed into place, so a build running at
 *   the same time never sees half a classpath.
 * - Java and Maven come from Debian when missing (the JDK when the caller compiles Java itself).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { aptInstall, CACHE_DIR, ensureDir, runLogged, ServiceError, step, which, writeIfChanged } from './process.js';

export interface MavenClasspath {
  /** the service name in progress lines and errors */
  service: string;
  /** what is resolved, for the progress line (e.g. "Apache Kafka 4.4.0") */
  what: string;
  /** the cache folder: pom.xml, maven.log, jars/ */
  home: string;
  pom: string;
  /** a jar the classpath must hold, checked after Maven ran */
  expectJar: string;
  /** install the JDK (javac), not only the runtime */
  jdk?: boolean;
}

/** Resolve the pom's runtime classpath (once); returns the jars folder. */
export async function resolveMavenJars(o: MavenClasspath): Promise<string> {
  const jarsDir = path.join(o.home, 'jars');
  const completeMarker = path.join(o.home, '.resolved');
  if (existsSync(completeMarker)) return jarsDir;
  const java = o.jdk ? 'openjdk-17-jdk-headless' : 'openjdk-17-jre-headless';
  if (!which('java') || (o.jdk && !which('javac'))) await step(`${o.service}: apt-get install ${java}`, () => aptInstall(o.service, [java]));
  if (!which('mvn')) await step(`${o.service}: apt-get install maven`, () => aptInstall(o.service, ['maven']));
  ensureDir(o.home);
  const pomFile = path.join(o.home, 'pom.xml');
  writeIfChanged(pomFile, o.pom);
  const partial = `${jarsDir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  await step(`${o.service}: resolve ${o.what} jars from Maven Central`, () =>
    runLogged(
      o.service,
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        pomFile,
        `-Dmaven.repo.local=${path.join(CACHE_DIR, 'm2')}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${partial}`,
        '-DincludeScope=runtime',
      ],
      { logFile: path.join(o.home, 'maven.log') },
    ),
  );
  if (!readdirSync(partial).includes(o.expectJar)) throw new ServiceError(o.service, `Maven finished but ${partial} holds no ${o.expectJar}`);
  rmSync(jarsDir, { recursive: true, force: true });
  renameSync(partial, jarsDir);
  writeFileSync(completeMarker, `${new Date().toISOString()}\n`);
  return jarsDir;
}

/**
 * Compile one Java source file against `<home>/jars` into `<home>/classes-<hash>` (the hash of the
 * source and `version`), unless that folder exists: a changed source compiles again, an unchanged one
 * never. Compiled into a folder of this process first and renamed into place, so a build running at
 * the same time never sees half the classes. Returns the classes folder.
 */
export async function compileJavaSource(o: { service: string; home: string; source: string; version: string }): Promise<string> {
  const className = path.basename(o.source, '.java');
  const hash = createHash('sha256').update(o.version).update(readFileSync(o.source)).digest('hex').slice(0, 16);
  const classes = path.join(o.home, `classes-${hash}`);
  const compiled = path.join(classes, `${className}.class`);
  if (existsSync(compiled)) return classes;
  const partial = `${classes}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  ensureDir(partial);
  await step(`${o.service}: javac ${path.basename(o.source)}`, () =>
    runLogged(o.service, 'javac', ['--release', '17', '-encoding', 'UTF-8', '-d', partial, '-cp', `${path.join(o.home, 'jars')}/*`, o.source], {
      logFile: path.join(o.home, 'javac.log'),
    }),
  );
  try {
    renameSync(partial, classes);
  } catch (err) {
    // another build got there first with the same source
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(compiled)) throw err;
  }
  return classes;
}
