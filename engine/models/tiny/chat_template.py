"""Our own Jinja chat template for the tiny tokenizers (Qwen3 chat format).

It renders what ACE-Step's LM prompts need (shared/reference/upstream_lm_tools.md §2.1-2.2):
- every turn as `<|im_start|>{role}\\n{content}<|im_end|>\\n`;
- an assistant turn after the last user turn with its reasoning in a think block,
  `<think>\\n{reasoning}\\n</think>\\n\\n{answer}<|im_end|>\\n`, where reasoning and answer come
  from splitting the content at `</think>` (so content `<think>\\n{yaml}\\n</think>` renders as
  `<think>\\n{yaml}\\n</think>\\n\\n<|im_end|>\\n`, and `<think>\\n\\n</think>` as
  `<think>\\n\\n</think>\\n\\n<|im_end|>\\n`);
- earlier assistant turns without their reasoning;
- `add_generation_prompt` appends `<|im_start|>assistant\\n` (plus an empty think block when
  `enable_thinking` is false).
Tools and multimodal content are not supported: Legato's prompts use neither.
"""

from __future__ import annotations

CHAT_TEMPLATE = (
    "{%- set ns = namespace(last_user=-1) -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- for message in messages -%}"
    "{%- set content = message['content'] if message['content'] is string else '' -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- set reasoning = '' -%}"
    "{%- if '</think>' in content -%}"
    "{%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') -%}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}"
    "{%- endif -%}"
    "{%- if loop.index0 > ns.last_user and (loop.last or reasoning) -%}"
    "{{- '<|im_start|>assistant\\n<think>\\n' + reasoning.strip('\\n') + '\\n</think>\\n\\n' + content + '<|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    "{{- '<think>\\n\\n</think>\\n\\n' -}}"
    "{%- endif -%}"
    "{%- endif -%}"
)
