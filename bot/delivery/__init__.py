"""Delivery: fan-out of new articles into the outbox, and the worker that sends it.

One reason to change per module:

- `fanout`: new articles → outbox rows, once per chat (decisions in `bot.pipeline.fanout`);
- `claims`: due rows claimed with a lease, grouped by chat, refilled while sending;
- `budget`: the send budget shared by demand among the sending processes (send slots);
- `pacing`: when a send may begin (rate limiter, claim deadline);
- `messages`: a chat's rows folded into messages, and composing them;
- `marks`: batched SENT/FOLDED marks and released rows (the repeat bound);
- `outcomes`: writes for skips, holds and failed sends (decided by
  `bot.pipeline.outcomes.decide_outcome`);
- `sender`: the Telegram sender (sendMessage, faults as typed errors);
- `chat_sender`: one chat's rows: chat state, quiet hours, paced sends, outcomes;
- `worker`: the pass that ties them together.

Design choices that span modules (see each module for its own):
- Digest-only follows create no instant row: the digest builder reads the chat's follows
  over the last 24 h. Muted follows and paused or blocked chats create no row.
- Outcome writes only touch rows the worker still holds, and no send begins after the
  claim's deadline, so a worker that stalls past its lease can neither send a row another
  claim took nor undo that claim's outcome.
"""

from bot.delivery.budget import SendBudget, window_ceiling
from bot.delivery.chat_sender import WorkerResult
from bot.delivery.fanout import FanOut, FanOutResult
from bot.delivery.messages import Composer, DigestComposer
from bot.delivery.sender import Sender, TelegramSender, send_message_data
from bot.delivery.worker import DeliveryWorker, WorkerTuning
from bot.pipeline.outcomes import (
    SendBadContent,
    SendError,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
)

__all__ = [
    "Composer",
    "DeliveryWorker",
    "DigestComposer",
    "FanOut",
    "FanOutResult",
    "SendBadContent",
    "SendBudget",
    "SendError",
    "SendForbidden",
    "SendRetryAfter",
    "SendTransient",
    "Sender",
    "TelegramSender",
    "WorkerResult",
    "WorkerTuning",
    "send_message_data",
    "window_ceiling",
]
