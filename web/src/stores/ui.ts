// What the screen shows: the section, toasts, and the enlarged image.

import { defineStore } from 'pinia';
import { ref } from 'vue';

export type Section = 'chats' | 'contacts' | 'groups' | 'profile';

export interface Toast {
  id: number;
  text: string;
  tone: 'info' | 'error';
}

let next = 1;

export const useUi = defineStore('ui', () => {
  const section = ref<Section>('chats');
  const toasts = ref<Toast[]>([]);
  const viewer = ref<{ url: string; name: string } | null>(null);
  /** On phones: whether the chat (rather than the list) fills the screen. */
  const showingChat = ref(false);

  function toast(text: string, tone: Toast['tone'] = 'info'): void {
    const id = next++;
    toasts.value.push({ id, text, tone });
    if (toasts.value.length > 4) toasts.value.shift();
    setTimeout(() => dismiss(id), tone === 'error' ? 7000 : 4500);
  }

  function dismiss(id: number): void {
    toasts.value = toasts.value.filter((t) => t.id !== id);
  }

  return { section, toasts, viewer, showingChat, toast, dismiss };
});
