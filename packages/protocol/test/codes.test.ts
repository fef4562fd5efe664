import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineCodes, ProtocolError, type CodeOf } from '@writeback/protocol';

const fruitErrors = defineCodes('FruitError', ['bruised', 'unripe'], { bruised: 422, unripe: 425 });
type FruitCode = CodeOf<typeof fruitErrors>;
class FruitError extends fruitErrors.Error {}
class BasketError extends defineCodes('BasketError', ['full']).Error {}

describe('defineCodes', () => {
  it('gives the codes in order, frozen, with their data and a code check', () => {
    assert.deepEqual(fruitErrors.codes, ['bruised', 'unripe']);
    assert.ok(Object.isFrozen(fruitErrors.codes));
    assert.equal(fruitErrors.data.unripe, 425);
    assert.ok(Object.isFrozen(fruitErrors.data));
    assert.equal(fruitErrors.isCode('bruised'), true);
    assert.equal(fruitErrors.isCode('rotten'), false);
    assert.equal(fruitErrors.isCode(undefined), false);
    const c: FruitCode = 'unripe';
    assert.equal(c, 'unripe');
  });

  it('makes errors with the code, the name and the cause, recognised by instanceof and is()', () => {
    const cause = new Error('stalk');
    const e = new FruitError('bruised', 'dropped', { cause });
    assert.equal(e.code, 'bruised');
    assert.equal(e.name, 'FruitError');
    assert.equal(e.message, 'dropped');
    assert.equal(e.cause, cause);
    assert.ok(e instanceof FruitError && e instanceof Error);
    assert.equal(FruitError.is(e), true);
    assert.equal(FruitError.is(new BasketError('full', 'no room')), false);
    assert.equal(FruitError.is({ code: 'bruised' }), false);
    assert.equal('cause' in new FruitError('unripe', 'green'), false);
    assert.equal(ProtocolError.is(new ProtocolError('expired', 'late')), true);
  });

  it('refuses duplicate codes and missing data at start-up', () => {
    assert.throws(() => defineCodes('X', ['a', 'a']), TypeError);
    // @ts-expect-error: every code needs its data
    assert.throws(() => defineCodes('X', ['a', 'b'], { a: 1 }), /no data for b/);
  });
});
