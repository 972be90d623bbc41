import { spawn } from "node:child_process"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "vitest"
import { launch, until } from "./inbox/harness.js"
import { tsxArgs } from "./tsx.js"

// `npm run demo -- --serve`: the refund stops at its approval, the server prints the inbox's address and a
// reviewer's token, a person approves in the browser, and the run finishes in the demo's terminal.
describe("npm run demo -- --serve", () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it("prints the inbox and a token; approving in chromium finishes the demo's run", async () => {
    const demo = path.join(__dirname, "..", "scratchpad", "demo.ts")
    const child = spawn(process.execPath, [...tsxArgs, demo, "--serve", "--port", "0"], {
      cwd: path.join(__dirname, ".."),
      stdio: ["ignore", "pipe", "pipe"]
    })
    cleanups.push(() => void child.kill("SIGKILL"))
    let output = ""
    let exited: number | null | undefined = undefined
    child.stdout!.on("data", (chunk) => output += chunk)
    child.stderr!.on("data", (chunk) => output += chunk)
    child.on("exit", (code) => exited = code)
    const lines = () => output.split("\n")
    // Generous bound: the demo runs the refund up to its approval first, on a loaded machine.
    const [inbox, token] = await until("the inbox and token lines", async () => {
      if (exited !== undefined) throw new Error(`the demo exited with ${exited}:\n${output}`)
      const url = lines().find((line) => /^inbox: http:\/\/127\.0\.0\.1:\d+\/inbox$/.test(line))
      const tokenLine = lines().find((line) => /^token: [A-Za-z0-9_-]+$/.test(line))
      return url !== undefined && tokenLine !== undefined
        ? [url.slice("inbox: ".length), tokenLine.slice("token: ".length)] as const
        : undefined
    }, 120)
    assert.notInclude(output, "listening on")

    const browser = await launch()
    cleanups.push(() => browser.close())
    const page = await browser.newPage()
    page.setDefaultTimeout(60_000)
    await page.goto(inbox)
    await page.getByLabel("Token").fill(token)
    await page.getByRole("button", { name: "Sign in" }).click()
    await page.getByRole("link", { name: "Refund 120 EUR to Ada Lovelace?" }).click()
    const amount = page.getByLabel("Approved amount")
    assert.strictEqual(await amount.getAttribute("max"), "120")
    await page.getByLabel("Note").fill("Goodwill refund, minus shipping.")
    await amount.fill("100")
    await page.getByRole("button", { name: "Approve" }).click()
    await page.getByText("Your decision was recorded.").waitFor()

    await until("the demo's run to finish", async () => {
      if (exited !== undefined) throw new Error(`the demo exited with ${exited}:\n${output}`)
      return output.includes("The run finished.") ? true : undefined
    }, 120)
    assert.include(output, "approved in the browser by grace (\"Goodwill refund, minus shipping.\") with {\"approvedAmount\":100}")
    assert.include(output, "\"refunded\":100")
    assert.match(output, /verify: valid/)
  }, 300_000)
})
