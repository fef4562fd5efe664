#!/usr/bin/env node
/**
 * Generates packages/cloud/data/banned-passwords.txt: the offline list of common and breached-style
 * passwords the cloud refuses (reason `banned`). Reproducible: no randomness, no network; re-run
 * after editing the word lists below:  node scripts/gen-banned-passwords.mjs
 *
 * The list holds whole passwords as people choose them (base words, keyboard walks, number runs,
 * seasons/months with years, "Password1!" style variants). The matcher normalises both sides
 * (case, leetspeak, trailing digits and symbols), so variants mostly document what is caught;
 * pure-digit and walk entries matter as they are.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const words = `password passw0rd passwort motdepasse contrasena wachtwoord senha parola salasana haslo
welcome letmein changeme secret default guest admin administrator root login master access
qwerty abc trustno1 iloveyou loveyou lovely love baby angel princess sunshine shadow dragon monkey
football baseball basketball soccer hockey tennis golfer cricket rugby liverpool arsenal chelsea
manchester barcelona madrid juventus yankees cowboys lakers steelers packers eagles tigers lions
bears panthers falcons giants jets dolphins raiders broncos ranger rangers hunter hunting fishing
superman batman spiderman ironman starwars pokemon naruto matrix gandalf frodo hobbit voldemort
harley ferrari porsche mustang corvette mercedes toyota honda yamaha suzuki kawasaki ducati bmw
jordan michael jennifer jessica ashley amanda nicole daniel andrew joshua matthew christopher
robert thomas william charlie george harry jack oliver james david richard joseph charles steven
anthony mark paul kevin brian edward ronald timothy jason jeffrey ryan jacob gary nicholas eric
stephen jonathan larry justin scott brandon benjamin samuel frank gregory raymond alexander patrick
dennis tyler aaron henry adam douglas nathan peter zachary kyle walter harold jeremy ethan carl
keith roger gerald christian terry sean arthur austin noah lawrence jesse joe bryan billy bruce
albert willie gabriel logan alan juan wayne roy ralph randy eugene vincent russell elijah louis
bobby philip johnny mary patricia linda barbara elizabeth susan sarah karen nancy lisa betty
margaret sandra donna carol ruth sharon michelle laura kimberly deborah amy angela melissa brenda
anna rebecca virginia kathleen pamela martha debra amanda stephanie carolyn christine marie janet
catherine frances ann joyce diane alice julie heather teresa doris gloria evelyn jean cheryl
mildred katherine joan emily judith rose janice kelly judy sophia grace victoria olivia emma
chloe charlotte amelia isabella mia ava lily ella hannah lucy summer winter spring autumn fall
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday weekend holiday christmas easter
halloween birthday valentine happy smile freedom liberty america canada england london paris
berlin tokyo sydney chicago boston dallas texas california florida newyork jersey brooklyn
michigan ohio georgia carolina virginia arizona nevada colorado oregon washington seattle denver
computer internet network server system windows microsoft apple google yahoo facebook twitter
instagram linkedin amazon netflix samsung iphone android nokia laptop desktop keyboard mouse
monitor printer office company business manager account finance payroll service support helpdesk
secure security private personal mypassword mypass pass pass123 passpass test tester testing
demo sample example temp temporary user username player gamer games gaming minecraft fortnite
roblox warcraft diablo zelda mario sonic tetris xbox playstation nintendo steam twitch youtube
music guitar piano drums singer rock metal punk jazz blues disco dance party beach ocean river
mountain forest flower garden orange banana apple cherry lemon mango peach strawberry chocolate
cookie cookies cupcake candy sugar honey butter pepper coffee tea beer whiskey vodka wine pizza
burger cheese chicken bacon tiger lion eagle falcon hawk wolf bear shark dolphin horse pony
kitten kitty puppy doggy doggie rabbit bunny turtle snake dragonfly butterfly spider monkey123
purple yellow green blue black white silver golden gold diamond crystal pearl ruby emerald
sapphire star stars moon sun sky rainbow thunder lightning storm blizzard snow snowball
fire water earth wind magic wizard witch ghost zombie vampire killer hello hellokitty
whatever nothing something anything everything forever always never trust faith hope jesus
god heaven angel1 blessed lucky lucky7 winner champion victory soldier warrior knight ninja
samurai pirate cowboy rocket jupiter saturn mercury venus mars pluto galaxy universe cosmos
qazwsx qwerty qwertyuiop asdfgh asdfghjkl zxcvbn zxcvbnm qweasd qweasdzxc 1qaz2wsx 1q2w3e4r
1q2w3e4r5t 1q2w3e zaq12wsx zaq1zaq1 azerty qwertz asdf asdfasdf qwer1234 abcd1234 abc123
aaaaaa abcdef abcdefg abcdefgh abcabc abcd letmein1 iloveu imissyou fuckyou fuckoff asshole
bitch sexy hottie babygirl babyboy mybaby sweetheart sweetie darling honey1 pussy killer1
cheese1 pepper1 ginger maggie buster bailey coco max molly daisy lucky1 toby rocky bandit
chester duke sammy teddy oscar jasper lola milo bella luna sadie zoey riley murphy ranger1`;

const walksAndNumbers = `123456 1234567 12345678 123456789 1234567890 12345 1234 123123 123321 654321
111111 000000 121212 112233 123qwe 666666 7777777 888888 999999 555555 222222 333333 444444
159753 147258369 147852 741852963 987654321 9876543210 789456 456789 789456123 102030 101010
112211 0987654321 11111111 00000000 12341234 1234qwer 123abc 123654 131313 159357 696969 246810
qwe123 asd123 zxc123 1qazxsw2 2wsx3edc 3edc4rfv !qaz2wsx !qaz@wsx 1qaz@wsx qwerty123 qwerty1
q1w2e3r4 a1b2c3d4 a1b2c3 1a2b3c 1q2w3e4r5t6y zxcvbnm123 asdf1234 password123 admin123 root123`;

const years = [];
for (let y = 1960; y <= 2035; y++) years.push(String(y));
const shortYears = [
  '00',
  '01',
  '07',
  '10',
  '12',
  '13',
  '19',
  '20',
  '21',
  '22',
  '23',
  '24',
  '25',
  '26',
  '69',
  '77',
  '88',
  '99',
];
const suffixes = ['1', '12', '123', '1234', '!', '1!', '123!', '@123', '#1', '01', '007', '2!', '99'];
const seasons = ['Spring', 'Summer', 'Autumn', 'Fall', 'Winter'];
const months = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const out = new Set();
const base = words.split(/\s+/).filter(Boolean);
const cap = (w) => w.charAt(0).toUpperCase() + w.slice(1);
for (const w of base) out.add(w);
for (const w of walksAndNumbers.split(/\s+/).filter(Boolean)) out.add(w);
// The shapes people use to satisfy "upper, lower, digit, symbol".
const shaped = [
  'password',
  'welcome',
  'letmein',
  'changeme',
  'qwerty',
  'admin',
  'monkey',
  'dragon',
  'football',
  'sunshine',
  'iloveyou',
  'princess',
  'master',
  'secret',
  'company',
  'summer',
  'winter',
  'hello',
  'login',
  'access',
];
for (const w of shaped) for (const s of suffixes) out.add(`${cap(w)}${s}`);
for (const w of [
  'P@ssw0rd',
  'P@ssword',
  'Passw0rd',
  'P4ssw0rd',
  'Pa$$w0rd',
  'Pa$$word',
  'W3lc0me',
  'Welc0me',
  'L3tm31n',
  'Adm1n',
  'Adm1n1strator',
  'Q1w2e3r4',
  'Ch4ngeme',
  'S3cr3t',
  'M0nkey',
  'Dr4gon',
]) {
  out.add(w);
  for (const s of ['1', '123', '!', '1!', '2024', '2025', '2026']) out.add(`${w}${s}`);
}
for (const s of [...seasons, ...months])
  for (const y of [...years.slice(-16), ...shortYears.slice(-8)]) {
    out.add(`${s}${y}`);
    if (s.length <= 6) out.add(`${s}${y}!`);
  }
for (const w of base.slice(0, 120))
  for (const y of ['2020', '2021', '2022', '2023', '2024', '2025', '2026']) out.add(`${w}${y}`);
for (const w of base.slice(0, 200)) for (const s of ['1', '123', '!']) out.add(`${w}${s}`);

const lines = [...out];
const header = [
  '# Common and breached-style passwords refused by writeback (reason: banned).',
  '# Generated by scripts/gen-banned-passwords.mjs; edit the script, not this file.',
  '# Matching is case-insensitive after leetspeak normalisation and stripping leading/trailing digits and symbols.',
];
const file = fileURLToPath(new URL('../packages/cloud/data/banned-passwords.txt', import.meta.url));
writeFileSync(file, `${[...header, ...lines].join('\n')}\n`);
process.stdout.write(`${lines.length} entries written to ${file}\n`);
