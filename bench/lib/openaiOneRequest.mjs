// The official `openai` SDK sending one chat request, as a user's minimal script would: the
// baseline of bench/startup.ts for a one-line `fastllm run` (OPENAI_BASE_URL and OPENAI_API_KEY
// from the environment, as the SDK reads them). Prints the response as one JSON line.
import OpenAI from "openai"

const client = new OpenAI()
const response = await client.chat.completions.create({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "startup benchmark question" }],
  max_tokens: 16
})
process.stdout.write(JSON.stringify(response) + "\n")
