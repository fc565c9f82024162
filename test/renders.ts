// Every lesson's render, made once per test run by the real `kubectl kustomize`
// (renderLessons, in test/global-setup.ts). Each test file gets its own copy, so a
// test that edits a render changes no other file's.
import { inject } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import type { Renders } from "#lessons/cluster/lesson-steps.ts";
import type { Lesson } from "#lessons/catalog/lessons.ts";

declare module "vitest" {
  export interface ProvidedContext {
    lessonRenders: Array<[Lesson, K8sObject[]]>;
  }
}

let renders: Map<Lesson, K8sObject[]> | undefined;

/** Every lesson's render, Gateway API twins included, as renderLessons returns them. */
export function lessonRenders(): ReadonlyMap<Lesson, K8sObject[]> & Renders {
  renders ??= new Map(structuredClone(inject("lessonRenders")));
  return renders;
}

/** One lesson's render: a copy of its own, free to edit. */
export function lessonRender(lesson: Lesson): K8sObject[] {
  const objects = lessonRenders().get(lesson);
  if (!objects) throw new Error(`lesson ${lesson} was not rendered`);
  return structuredClone(objects);
}
